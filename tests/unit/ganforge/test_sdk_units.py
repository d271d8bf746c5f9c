"""The SDK's pure parts: SSE parsing, Retry-After, layout guessing, problem+json to exceptions."""

import zipfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

import ganforge
from ganforge._archives import archive_members, guess_layout, zip_folder
from ganforge._calls import IDEMPOTENCY_HEADER, Call, create_headers
from ganforge._retry import RetryPolicy, retry_after_seconds
from ganforge._sse import SseParser
from ganforge.errors import error_for


def feed(lines):
    parser = SseParser()
    return [event for line in lines if (event := parser.feed(line)) is not None]


def test_sse_events_with_ids_json_data_and_keepalives():
    events = feed(["retry: 2000", "", ": keep-alive", "", "id: 1-0", "event: status", 'data: {"status": "running"}',
                   "", "id: 2-0", "event: end", "data: {\"id\": \"j\",", "data:  \"status\": \"succeeded\"}", ""])
    assert [(e.event, e.id) for e in events] == [("status", "1-0"), ("end", "2-0")]
    assert events[0].data == {"status": "running"}
    assert events[1].data == {"id": "j", "status": "succeeded"}  # multi-line data joined by newlines


def test_retry_after_as_seconds_or_http_date():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds(later) <= 30
    policy = RetryPolicy(backoff_s=1, max_delay_s=8)
    assert policy.delay(0, retry_after=3) == 3 and policy.delay(0, retry_after=60) == 8
    assert 4 <= policy.delay(3) <= 8  # exponential with jitter, capped


@pytest.mark.parametrize(("paths", "layout"), [
    (["a.png", "b.jpg"], "images"),
    (["data/a.png", "data/b.png"], "images"),  # one wrapping folder is looked through
    (["cat/1.png", "dog/2.png", "README.txt"], "classes"),
    (["pets/cat/1.png", "pets/dog/2.png"], "classes"),
    (["A/x.png", "B/y.png"], "unpaired"),
    (["a/x.png", "b/x.png"], "paired"),  # same names in A and B
    (["__MACOSX/cat/._1.png", "cat/1.png", "dog/1.png"], "classes"),
])
def test_layout_is_guessed_from_paths(paths, layout):
    assert guess_layout(paths) == layout


def test_a_folder_is_zipped_without_hidden_files(tmp_path):
    (tmp_path / "set" / "cat").mkdir(parents=True)
    (tmp_path / "set" / "cat" / "1.png").write_bytes(b"png")
    (tmp_path / "set" / ".git").mkdir()
    (tmp_path / "set" / ".git" / "config").write_text("x")
    archive = zip_folder(tmp_path / "set")
    try:
        assert archive_members(archive) == ["cat/1.png"]
        assert zipfile.is_zipfile(archive)
    finally:
        archive.unlink()


def test_problem_json_becomes_the_matching_exception():
    body = {"type": "https://ganforge.dev/problems/validation-error", "title": "The request is not valid",
            "status": 422, "detail": "n: too small", "instance": "/generate",
            "errors": [{"field": "n", "message": "too small", "type": "greater_than_equal"}]}
    error = error_for(httpx.Response(422, json=body))
    assert isinstance(error, ganforge.ValidationFailed)
    assert (error.status, error.code, error.detail, error.instance) == (422, "validation-error", "n: too small",
                                                                        "/generate")
    assert error.errors[0]["field"] == "n" and str(error) == "422 validation-error: n: too small"
    limited = error_for(httpx.Response(429, json={"detail": "full"}, headers={"Retry-After": "2"}))
    assert isinstance(limited, ganforge.RateLimited) and limited.retry_after == 2
    assert isinstance(error_for(httpx.Response(502, text="bad gateway")), ganforge.ServerError)
    assert isinstance(error_for(httpx.Response(503)), ganforge.Unavailable)


def test_creates_carry_an_idempotency_key_and_are_then_safe_to_retry():
    fresh, again = create_headers(True), create_headers(True)
    assert fresh[IDEMPOTENCY_HEADER] != again[IDEMPOTENCY_HEADER]
    assert create_headers("mine")[IDEMPOTENCY_HEADER] == "mine"
    assert IDEMPOTENCY_HEADER not in create_headers(False)
    assert Call("POST", "/generate", headers=fresh).retry_safe
    assert not Call("POST", "/datasets").retry_safe and Call("GET", "/jobs").retry_safe
