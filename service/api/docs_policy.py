"""A Content-Security-Policy on /docs and /redoc that keeps them on this origin.

Their scripts and styles come from the API itself (fastapi-offline), but ReDoc's own script adds
a Redocly logo from a CDN to its sidebar; with this policy the browser never asks for it (or for
anything else outside), so the pages work the same with and without the internet.

A plain ASGI middleware that steps aside for every other path: Starlette's `@app.middleware`
(BaseHTTPMiddleware) runs each request through a task group and memory streams, a cost every
/generate paid for a header only the doc pages carry.
"""

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOC_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",  # the pages' inline start-up script
    "style-src 'self' 'unsafe-inline'",  # both UIs set styles inline
    "img-src 'self' data:",
    "worker-src 'self' blob:",  # ReDoc searches in a web worker made from a blob
    "connect-src 'self'",  # /openapi.json
    "frame-ancestors 'self'",
])


class DocsPolicyMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOC_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-security-policy"]
                message["headers"] = [*headers, (b"content-security-policy", POLICY.encode())]
            await send(message)

        await self.app(scope, receive, send_with_policy)


def install_docs_policy(app: FastAPI) -> None:
    app.add_middleware(DocsPolicyMiddleware)
