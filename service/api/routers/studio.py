"""GANForge Studio: the web page at `/` and its static files under `/studio/`.

Plain files (HTML, ES modules, CSS) shipped in the package: no build step and nothing fetched
from outside. The page talks to the public API with the user's key, like any other client,
so these routes need no key themselves and stay out of the OpenAPI schema.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.api.errors import Problem

router = APIRouter(include_in_schema=False)

STUDIO_DIR = Path(__file__).resolve().parent.parent / "studio"

MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
               ".png": "image/png"}

# The page may only talk to its own origin: a slip that would load something from elsewhere
# fails loudly in the browser instead of leaking a request.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
           "Cache-Control": "no-cache"}


def studio_file(relative: str) -> Path:
    """The file under STUDIO_DIR, or a 404 problem (unknown suffix, missing, or outside it)."""
    path = (STUDIO_DIR / relative).resolve()
    if not path.is_relative_to(STUDIO_DIR) or path.suffix not in MEDIA_TYPES or not path.is_file():
        raise Problem(404, "not-found", "Not found", f"no studio file {relative!r}")
    return path


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STUDIO_DIR / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/studio/{relative:path}")
def asset(relative: str) -> FileResponse:
    path = studio_file(relative)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)
