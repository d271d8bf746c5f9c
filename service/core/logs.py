"""Structured logs: one JSON object per line in production, plain lines in a terminal, and the
id of the job being worked on stamped on every line written while it runs."""

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

current_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_job_id", default=None)


@contextmanager
def job_logging(job_id: str) -> Iterator[None]:
    token = current_job_id.set(job_id)
    try:
        yield
    finally:
        current_job_id.reset(token)


_QUERY = re.compile(r"(?P<head>(?:https?://|/)[^\s?\"'<>]*)\?[^\s\"'<>]*")


def redact_query_strings(text: str) -> str:
    """URLs and paths keep their path; their query string (tokens, signatures) becomes `?…`."""
    return _QUERY.sub(lambda m: m.group("head") + "?…", text)


class _RedactQueryStrings(logging.Filter):
    """Webhook URLs and request paths may carry secrets in their query string (`?token=…`):
    no log line keeps one, whichever logger wrote it (ours, Celery's, uvicorn's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_query_strings(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class _JobIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.job_id = current_job_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if getattr(record, "job_id", None):
            entry["job_id"] = record.job_id
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(job)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.job = f" [job {record.job_id}]" if getattr(record, "job_id", None) else ""
        return super().format(record)


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_JobIdFilter())
    handler.addFilter(_RedactQueryStrings())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
