"""Who is calling and what they may do: API keys sent as `Authorization: Bearer <key>`, scopes,
and a per-key rate limit.

Every route needs a key (the app-level `authenticate` dependency) except the few in
PUBLIC_ROUTES; a router states the scope it needs with `dependencies=[RequireScope("infer")]`.
A missing or unknown key is a 401 with `WWW-Authenticate`, a known key without the scope a 403.

Rate limits use the `limits` library on the service's Redis (a moving window per key, shared by
every API process): a key's `rate` (or the default) may list several windows, e.g.
"20/second;600/minute" lets a client burst 20 in a second and keep 10 a second. Answers carry
`RateLimit-Limit/-Remaining/-Reset` for the tightest window; past it, 429 with Retry-After.
"""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.caller import set_caller
from service.api.deps import StateDep
from service.api.errors import Problem
from service.api.rate_limit import HEADERS_STATE
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.core.api_keys import ApiKey

# Paths (route templates) that answer without a key. /ready answers everyone, with details for admins.
PUBLIC_ROUTES = {
    "/health", "/ready",
    "/v2/health/live", "/v2/health/ready",  # Open Inference Protocol probes
    "/", "/studio/{relative:path}",  # the browser UI's static files (it asks for a key itself)
    "/docs", "/docs/oauth2-redirect", "/redoc",  # API docs pages (their assets and /openapi.json are public too)
}
REALM = 'Bearer realm="ganforge"'

bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer gfk_…`. `make run` prints a local admin key; admins "
                "create more with POST /keys or `python -m service.core.api_keys create`.",
)


def unauthorized(detail: str, error: str | None = None) -> Problem:
    challenge = REALM + (f', error="{error}"' if error else "")
    return Problem(401, "unauthorized", "API key required", detail, headers={"WWW-Authenticate": challenge})


async def authenticate(
    request: Request, state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey | None:
    """The calling key (rate limited), None on a public route called without one. Async so that
    the caller it records (service/api/caller.py) is seen by everything the request runs after it."""
    public = _is_public(request)
    caller = None
    if credentials is not None:
        caller = await state.api_keys.authenticate_on(state.redis_async, credentials.credentials)
        if not public:
            if caller is None:
                raise unauthorized("unknown or revoked API key", "invalid_token")
            await enforce_rate(state, request, caller)
    elif not public:
        raise unauthorized("send an API key as `Authorization: Bearer <key>`")
    set_caller(caller)
    return caller


def _is_public(request: Request) -> bool:
    return getattr(request.scope.get("route"), "path", None) in PUBLIC_ROUTES


async def _caller(request: Request, caller: Annotated[ApiKey | None, Depends(authenticate)]) -> ApiKey:
    if caller is None:  # only on a public route, which has no use for a caller
        raise unauthorized("send an API key as `Authorization: Bearer <key>`")
    return caller


CallerDep = Annotated[ApiKey, Depends(_caller)]
OptionalCallerDep = Annotated[ApiKey | None, Depends(authenticate)]


def RequireScope(scope: str):
    """A router or route dependency: the caller's key must hold `scope` (admin holds all).
    Public routes of a scoped router (health probes) stay open."""

    async def require(request: Request, caller: OptionalCallerDep) -> ApiKey | None:
        if caller is None:
            if _is_public(request):
                return None
            raise unauthorized("send an API key as `Authorization: Bearer <key>`")
        if not caller.allows(scope):
            raise Problem(
                403, "insufficient-scope", "Missing scope",
                f"the key {caller.name!r} lacks the {scope!r} scope (it has {', '.join(caller.scopes)})",
                headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
            )
        return caller

    return Depends(require)


async def enforce_rate(state, request: Request, caller: ApiKey) -> None:
    allowed, headers = await state.rate_limiter.hit(caller)
    setattr(request.state, HEADERS_STATE, headers)
    if not allowed:
        raise Problem(
            429, "rate-limited", "Too many requests",
            f"the key {caller.name!r} is limited to {caller.rate or state.rate_limiter.default_rate}; "
            f"retry after {headers['Retry-After']} s",
            headers=headers,
        )


# Documented on every route: what a missing key, a missing scope and the rate limit answer.
AUTH_RESPONSES = {
    401: {**PROBLEM_RESPONSES[422], "description": "No API key, or an unknown or revoked one (see WWW-Authenticate)"},
    403: {**PROBLEM_RESPONSES[422], "description": "The key lacks the scope this route needs"},
    422: PROBLEM_RESPONSES[422],
    429: {**PROBLEM_RESPONSES[429], "description": "Rate limit or training quota reached; retry after Retry-After s"},
}
