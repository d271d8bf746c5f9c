"""A Content-Security-Policy on /docs and /redoc that keeps them on this origin.

Their scripts and styles come from the API itself (fastapi-offline), but ReDoc's own script adds
a Redocly logo from a CDN to its sidebar; with this policy the browser never asks for it (or for
anything else outside), so the pages work the same with and without the internet.
"""

from fastapi import FastAPI, Request

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


def install_docs_policy(app: FastAPI) -> None:
    @app.middleware("http")
    async def docs_policy(request: Request, call_next):
        response = await call_next(request)
        if request.url.path in DOC_PATHS:
            response.headers["Content-Security-Policy"] = POLICY
        return response
