"""The OpenAPI schema says what the API answers: statuses FastAPI's routes cannot state for
themselves, and who needs a key.

- Every operation whose body is JSON only lists 400 (a body FastAPI cannot decode: not UTF-8)
  and 415 (another media type, service/api/content_type.py); one that reads a multipart form
  lists 415 for a body that is none of its media types.
- Error answers are documented as what they are, `application/problem+json` with the
  ProblemDetail schema (FastAPI files a response model under `application/json`).
- The routes that answer without a key (auth.PUBLIC_ROUTES: probes, docs, the Studio's files) say
  the key is optional, instead of inheriting the app-wide `Authorization` requirement.

A bounded schemathesis run (tests/integration/test_openapi_contract.py) holds the answers to it.
"""

from fastapi import FastAPI

from service.api.auth import PUBLIC_ROUTES

JSON = "application/json"
MULTIPART = "multipart/form-data"
PROBLEM_JSON = "application/problem+json"
_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
BODY_RESPONSES = {
    "400": {"description": "The body cannot be decoded (not UTF-8 text)", "content": _PROBLEM},
    "415": {"description": f"The body is not `{JSON}`", "content": _PROBLEM},
}
KEY_OPTIONAL = [{}, {"ApiKey": []}]  # OpenAPI: an empty requirement means none is needed


def install_contract(app: FastAPI) -> None:
    build_schema = app.openapi

    def openapi() -> dict:
        fresh = app.openapi_schema is None
        schema = build_schema()
        if fresh:
            amend(schema)
        return schema

    app.openapi = openapi


def amend(schema: dict) -> None:
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            media_types = set(operation.get("requestBody", {}).get("content", {}))
            responses = operation.setdefault("responses", {})
            if media_types == {JSON}:
                for status, documented in BODY_RESPONSES.items():
                    responses.setdefault(status, documented)
            elif MULTIPART in media_types:
                kinds = " or ".join(f"`{m}`" for m in sorted(media_types))
                responses.setdefault("415", {"description": f"The body is not {kinds}", "content": _PROBLEM})
            if path in PUBLIC_ROUTES:
                operation["security"] = KEY_OPTIONAL
            for response in responses.values():
                _problem_as_problem_json(response.get("content") or {})


def _problem_as_problem_json(content: dict) -> None:
    schema = content.get(JSON, {}).get("schema", {})
    if PROBLEM_JSON in content and not content[PROBLEM_JSON] and schema.get("$ref", "").endswith("/ProblemDetail"):
        content[PROBLEM_JSON] = content.pop(JSON)
