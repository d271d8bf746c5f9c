"""A cap on the requests one API key has in flight at once in an API process, so one client's
burst of slow requests (`Prefer: wait`, uploads) cannot hold every connection and task of it.

The rate limit (service/api/rate_limit.py) counts requests over time; this counts requests at
the same moment. It is per process, on the event loop (no lock, no Redis round trip): with N API
processes a key may have up to N x GANFORGE_API_MAX_REQUESTS_PER_KEY in flight. Past the cap the
answer is `429 too-many-concurrent-requests` with Retry-After. Event streams are left out: they
wait without a thread or a task of the worker's (service/api/event_hub.py) and are bounded by the
connection cap instead. A request without a key is counted under its client address.
"""

import hashlib

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.errors import problem_response


class KeyConcurrencyLimit:
    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit
        self.in_flight: dict[bytes, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope["path"].endswith("/events"):
            await self.app(scope, receive, send)
            return
        caller = _caller(scope)
        count = self.in_flight.get(caller, 0)
        if count >= self.limit:
            answer = problem_response(
                429, "too-many-concurrent-requests", "Too Many Concurrent Requests",
                f"this API key has {count} requests in flight in this process, the most it may "
                f"(GANFORGE_API_MAX_REQUESTS_PER_KEY={self.limit}); send the next one when one is answered",
                instance=scope["path"], headers={"Retry-After": "1"})
            await answer(scope, receive, send)
            return
        self.in_flight[caller] = count + 1
        try:
            await self.app(scope, receive, send)
        finally:
            left = self.in_flight[caller] - 1
            if left:
                self.in_flight[caller] = left
            else:
                del self.in_flight[caller]


def _caller(scope: Scope) -> bytes:
    """The bearer key's digest (the key itself is never kept), else the client's address."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return hashlib.sha256(value).digest()[:16]
    client = scope.get("client")
    return f"address:{client[0] if client else '-'}".encode()
