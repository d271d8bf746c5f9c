"""The API key of the request being served, for code below the routers.

`authenticate` (service/api/auth.py) sets it once per request, in the request's own context,
before any route runs; the thread a route or a store call runs in inherits it. Job creation
stamps its owner from here, so every endpoint that makes a job gets ownership without passing
it along (and one that forgets cannot make ownerless jobs).
"""

from contextvars import ContextVar

from service.core.api_keys import ApiKey

_current: ContextVar[ApiKey | None] = ContextVar("ganforge_caller", default=None)


def set_caller(caller: ApiKey | None) -> None:
    _current.set(caller)


def current_caller() -> ApiKey | None:
    return _current.get()


def current_owner() -> str | None:
    caller = _current.get()
    return caller.owner if caller else None
