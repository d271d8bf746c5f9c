"""Routes whose body is a JSON schema read only JSON, and say so.

FastAPI reads a form, text or any other body of such a route as raw bytes and answers the
schema's complaint about them ("Input should be a valid dictionary"), which tells the client
nothing it can act on. Here every route with a JSON body refuses any other media type, and a
body sent with no Content-Type at all, with 415 naming `application/json`.
"""

from fastapi import Depends, FastAPI, Request
from fastapi.params import Form  # File is a Form too
from fastapi.routing import APIRoute

from service.api.errors import Problem

JSON = "application/json"


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == JSON or (media_type.startswith("application/") and media_type.endswith("+json"))


def reads_json(route: object) -> bool:
    """A route whose body FastAPI validates against a schema (not a form, not read by hand)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    return not route.dependant.body_params or not _is_form(route)


def _is_form(route: APIRoute) -> bool:
    return any(isinstance(param.field_info, Form) for param in route.dependant.body_params)


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


async def require_json(request: Request) -> None:
    if not reads_json(request.scope.get("route")):
        return
    content_type = request.headers.get("content-type")
    if content_type is None and not has_body(request):
        return  # no body at all: the schema's own "field required" says what is missing
    if content_type is None or not is_json(content_type):
        given = f"`{content_type.split(';', 1)[0]}`" if content_type else "a body with no Content-Type"
        raise Problem(415, "unsupported-media-type", "Unsupported media type",
                      f"send the body as `{JSON}` (Content-Type: {JSON}), not {given}",
                      headers={"Accept-Post": JSON} if request.method == "POST" else None)


def install_json_bodies(app: FastAPI) -> None:
    """Before the routers are included: every route checks its body's media type (the statuses it
    answers are documented by service/api/openapi_contract.py)."""
    app.router.dependencies.append(Depends(require_json))
