"""Request bodies capped before they are read whole: an ASGI middleware.

A Content-Length over the route's cap is answered 413 at once, without reading a byte of the
body; a body without one (chunked) is counted as it streams in and refused as soon as it passes
the cap. Without this, FastAPI reads and parses a JSON body of any size (a 300 MB body cost the
API 920 MiB) before a schema could refuse it.
"""

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import PROBLEM_JSON, TYPE_BASE


class BodyTooLarge(Exception):
    pass


def problem_413(limit: int, path: str) -> bytes:
    return json.dumps({
        "type": TYPE_BASE + "body-too-large", "title": "Request body too large", "status": 413,
        "detail": f"the request body is over the {limit}-byte limit of {path}", "instance": path,
    }).encode()


class BodyLimitMiddleware:
    """`limit_of(path)` is the most bytes a body to `path` may have."""

    def __init__(self, app: ASGIApp, limit_of: Callable[[str], int]):
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = self.limit_of(path)
        length = _content_length(scope)
        if length is not None and length > limit:
            await _refuse(send, limit, path)
            return

        seen = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge(path)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:  # whatever the app made of the cut body, the answer is 413
                started = True
                await _refuse(send, limit, path)
                return
            if exceeded:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, limit, path)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int, path: str) -> None:
    body = problem_413(limit, path)
    await send({
        "type": "http.response.start", "status": 413,
        "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})
