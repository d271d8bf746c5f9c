"""RFC 9457 problem details for every error the API answers, with stable `type`s.

A client mistake is a 4xx naming what is wrong; Redis or the broker being away is a 503 with
Retry-After; anything else is a bug and says so without leaking internals.
"""

import functools
import logging
import re
import threading
import time
from typing import Any

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.artifacts import StoreUnavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
OIP_PREFIX = "/v2"
TYPE_BASE = "https://ganforge.dev/problems/"


class RateLimitedLog:
    """At most one line per `every_s`, saying how many were left out: a Redis outage answers
    thousands of 503s a second and must not write a line for each."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0):
        self.logger, self.every_s = logger, every_s
        self._lock = threading.Lock()
        self._last = -every_s
        self._skipped = 0

    def warning(self, message: str, *args: Any) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.every_s:
                self._skipped += 1
                return
            skipped, self._skipped, self._last = self._skipped, 0, now
        suffix = f" ({skipped} more like it in the last {self.every_s:g} s)" if skipped else ""
        self.logger.warning(message + suffix, *args)


_unavailable_log = RateLimitedLog(log)


class Problem(Exception):
    def __init__(self, status: int, type_: str, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.type = type_
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def validation_problem(errors: list[dict[str, str]]) -> Problem:
    """422 naming each failing field; `errors` holds {"field", "message", "type"} entries."""
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return Problem(422, "validation-error", "The request is not valid", detail, errors=errors)


def invalid(field: str, message: str, type_: str = "invalid") -> Problem:
    """422 for one failing field."""
    return validation_problem([{"field": field, "message": message, "type": type_}])


def pydantic_field_errors(error: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """A pydantic ValidationError as `errors` entries, each field under `prefix`."""
    return [
        {"field": ".".join([*prefix, *map(str, e["loc"])]) or "body", "message": e["msg"], "type": e["type"]}
        for e in error.errors()
    ]


def unknown_model(missing: Exception) -> Problem:
    return Problem(404, "unknown-model", "Unknown model", str(missing))


def unknown_dataset(missing: Exception) -> Problem:
    return Problem(404, "unknown-dataset", "Unknown dataset", str(missing))


def unknown_job(job_id: str) -> Problem:
    return Problem(404, "unknown-job", "Unknown job", f"no job {job_id!r} (never created, or expired)")


def problem_response(
    status: int, type_: str, title: str, detail: str, *, instance: str | None = None, headers: dict | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": TYPE_BASE + type_, "title": title, "status": status, "detail": detail, **extra}
    if instance:
        body["instance"] = instance
        if is_oip_path(instance):
            body.setdefault("error", detail)  # the member OIP v2 clients (tritonclient) read
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def is_oip_path(path: str) -> bool:
    """Open Inference Protocol v2 routes: every error there, 401 and 429 included, carries `error`."""
    return path == OIP_PREFIX or path.startswith(OIP_PREFIX + "/")


def allowed_methods(request: Request, fallback: str) -> str:
    """The methods the OpenAPI schema documents for this path, every operation's and not only the
    first route's that matched it (PUT and DELETE of an alias are two routes); `fallback` for a
    path the schema does not list."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if _template_pattern(template).fullmatch(request.url.path):
            methods |= {method.upper() for method in operations if method.upper() in HTTP_METHODS}
    if not methods:
        return fallback
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return ", ".join(sorted(methods))


HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}


@functools.lru_cache(maxsize=256)
def _template_pattern(template: str) -> re.Pattern:
    """`/models/{name}/aliases/{alias}` as a pattern of the paths it stands for."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join(
        (".+" if part.endswith(":path}") else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
    ))


def _field_path(error: dict) -> str:
    if error["type"] == "json_invalid":
        return "body"  # the location is a character offset, which says nothing as a field name
    parts = [str(p) for p in error["loc"] if p != "body"]
    return ".".join(parts) or "body"


def _message(error: dict) -> str:
    if error["type"] == "json_invalid":
        return f"malformed JSON at character {error['loc'][-1]}: {error.get('ctx', {}).get('error', error['msg'])}"
    return error["msg"]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, problem: Problem) -> JSONResponse:
        return problem_response(
            problem.status, problem.type, problem.title, problem.detail,
            instance=request.url.path, headers=problem.headers, **problem.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problem = validation_problem(
            [{"field": _field_path(e), "message": _message(e), "type": e["type"]} for e in error.errors()]
        )
        return await _problem(request, problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if isinstance(error.__cause__, RecursionError):  # FastAPI's JSON parse of a deeply nested body
            message = "JSON nested too deep"
            return problem_response(422, "validation-error", "The request is not valid", f"body: {message}",
                                    instance=request.url.path,
                                    errors=[{"field": "body", "message": message, "type": "json_too_deep"}])
        slug = {400: "unreadable-body", 404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "http-error")
        headers = dict(getattr(error, "headers", None) or {})
        if error.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        return problem_response(
            error.status_code, slug, str(error.detail), str(error.detail), instance=request.url.path,
            headers=headers or None,
        )

    @app.exception_handler(redis.ConnectionError)
    @app.exception_handler(redis.TimeoutError)
    @app.exception_handler(OperationalError)
    async def _unavailable(request: Request, error: Exception) -> JSONResponse:
        _unavailable_log.warning("backing store unavailable: %s", error)
        return problem_response(
            503, "unavailable", "Service unavailable",
            "the job store (Redis) cannot be reached; try again shortly",
            instance=request.url.path, headers={"Retry-After": "5"},
        )

    @app.exception_handler(StoreUnavailable)
    async def _store_away(request: Request, error: Exception) -> JSONResponse:
        # The object store (GANFORGE_ARTIFACTS_URL) is down: the request was fine, try it again.
        _unavailable_log.warning("artifact store unavailable: %s", error)
        return problem_response(
            503, "artifacts-unavailable", "Service unavailable",
            "the artifact store (object storage) cannot be reached; try again shortly",
            instance=request.url.path, headers={"Retry-After": "5"},
        )

    @app.exception_handler(redis.exceptions.OutOfMemoryError)
    async def _full(request: Request, error: Exception) -> JSONResponse:
        # Redis is at its memory cap and evicts nothing (noeviction): refuse new work, lose none.
        _unavailable_log.warning("job store full: %s", error)
        return problem_response(
            503, "store-full", "Service unavailable", "the job store (Redis) is full; try again shortly",
            instance=request.url.path, headers={"Retry-After": "10"},
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(500, "internal", "Internal error", "an unexpected error occurred; it has been logged",
                                instance=request.url.path)
