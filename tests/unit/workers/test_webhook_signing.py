"""Webhooks without a worker: signatures, retry delays and the SSRF guard."""

import time

import pytest

from workers.webhooks import (
    parse_retry_after,
    private_destination,
    retry_delay,
    sign,
    verify,
)

SECRET = "test-secret-9f1c"
BODY = b'{"id":"abc","status":"succeeded"}'


def signed_headers(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "X-GANForge-Delivery": "d1",
        "X-GANForge-Timestamp": str(timestamp),
        "X-GANForge-Signature": sign(secret, "d1", timestamp, body),
    }


def test_a_signature_verifies_with_the_secret_and_the_exact_body():
    headers = signed_headers(BODY)
    assert headers["X-GANForge-Signature"].startswith("sha256=")
    assert verify(SECRET, headers, BODY)
    assert not verify(SECRET, headers, BODY.replace(b"succeeded", b"failed"))
    assert not verify(SECRET, headers, BODY + b" ")
    assert not verify("another-secret", headers, BODY)


def test_a_signature_is_bound_to_its_delivery_and_time():
    headers = signed_headers(BODY)
    assert not verify(SECRET, {**headers, "X-GANForge-Delivery": "d2"}, BODY)
    assert not verify(SECRET, {**headers, "X-GANForge-Timestamp": str(int(time.time()) + 1)}, BODY)
    stale = signed_headers(BODY, timestamp=int(time.time()) - 3600)
    assert not verify(SECRET, stale, BODY)
    assert verify(SECRET, stale, BODY, now=time.time() - 3600)
    assert not verify(SECRET, {}, BODY)


def test_retries_back_off_doubling_to_a_cap_unless_the_receiver_says_when():
    assert [retry_delay(n, 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_delay(30, 1.0) == 300.0
    assert retry_delay(1, 1.0, retry_after_s=7) == 7.0
    assert retry_delay(1, 1.0, retry_after_s=10**6) == 300.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest",
            "http://[::1]:9000/hook", "http://192.168.0.7/hook"],
)
def test_webhooks_to_non_public_addresses_are_refused(url):
    assert "non-public" in private_destination(url)


def test_a_public_address_passes_the_guard():
    assert private_destination("http://93.184.216.34/hook") is None  # a literal: no DNS needed
