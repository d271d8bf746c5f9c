"""Routes whose body is a JSON schema read only JSON, and say so.

FastAPI reads a form, text or any other body of such a route as raw bytes and answers the
schema's complaint about them ("Input should be a valid dictionary"), which tells the client
nothing it can act on. Here every route with a JSON body refuses any other media type, and a
body sent with no Content-Type at all, with 415 naming `application/json`; the OpenAPI schema
lists that 415, and the 400 that an undecodable body (not UTF-8) gets from FastAPI.
"""

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from service.api.errors import Problem

JSON = "application/json"

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
BODY_RESPONSES = {
    "400": {"description": "The body cannot be decoded (not UTF-8 text)", "content": _PROBLEM},
    "415": {"description": f"The body is not `{JSON}`", "content": _PROBLEM},
}


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == JSON or (media_type.startswith("application/") and media_type.endswith("+json"))


def reads_json(route: object) -> bool:
    """A route whose body FastAPI validates against a schema (not a form, not read by hand)."""
    if not isinstance(route, APIRoute) or route.body_field is None:
        return False
    return not route.dependant.body_params or not _is_form(route)


def _is_form(route: APIRoute) -> bool:
    from fastapi.params import Form  # File is a Form too

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
    """Before the routers are included: every route checks its body's media type, and the schema
    documents the answers to a body of the wrong kind on each operation whose only body is JSON."""
    app.router.dependencies.append(Depends(require_json))
    build_schema = app.openapi

    def openapi() -> dict:
        fresh = app.openapi_schema is None
        schema = build_schema()
        if fresh:
            for operation in _json_only_operations(schema):
                for status, documented in BODY_RESPONSES.items():
                    operation["responses"].setdefault(status, documented)
        return schema

    app.openapi = openapi


def _json_only_operations(schema: dict):
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            if isinstance(operation, dict) and set(operation.get("requestBody", {}).get("content", {})) == {JSON}:
                yield operation
