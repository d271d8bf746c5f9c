"""Idempotency-Key on POST /generate: a repeat answers the same job, never a second one."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import wait_for_status

from service.core import keys

pytestmark = pytest.mark.integration

MODEL = "mnist-cdcgan"
PROBLEM = "application/problem+json"


def job_count(stack) -> int:
    return sum(1 for key in stack.redis.scan_iter(keys.JOB_PATTERN) if key.count(b":") == 2)  # not :events, :task


def post(api, body, key):
    return api.post("/generate", json=body, headers={"Idempotency-Key": key})


def test_a_repeat_with_the_same_key_and_body_answers_the_same_job(stack, api):
    key, body = str(uuid.uuid4()), {"model": MODEL, "n": 2}
    before = job_count(stack)
    first = post(api, body, key)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    job = first.json()
    wait_for_status(api, job["id"], {"succeeded"})

    # the same request spelled differently (a default written out, keys reordered) is the same request
    repeat = post(api, {"n": 2, "model": MODEL, "format": "png"}, key)
    assert repeat.status_code == 200  # finished by now
    assert repeat.json()["id"] == job["id"] and repeat.json()["status"] == "succeeded"
    assert repeat.headers["location"] == first.headers["location"] == f"/jobs/{job['id']}"
    assert repeat.headers["idempotent-replayed"] == "true"
    assert job_count(stack) == before + 1


def test_the_same_key_with_another_body_is_a_422_naming_the_header(api):
    key = str(uuid.uuid4())
    assert post(api, {"model": MODEL, "n": 1}, key).status_code == 202
    other = post(api, {"model": MODEL, "n": 3}, key)
    assert other.status_code == 422 and other.headers["content-type"] == PROBLEM
    problem = other.json()
    assert problem["type"].endswith("/idempotency-key-reused")
    assert problem["errors"][0]["field"] == "Idempotency-Key"


def test_keys_are_per_endpoint_body_and_not_shared_with_requests_without_one(stack, api):
    key, body = str(uuid.uuid4()), {"model": MODEL, "n": 1, "seed": 5}
    keyed = post(api, body, key).json()
    unkeyed = api.post("/generate", json=body).json()
    assert unkeyed["id"] != keyed["id"]
    assert post(api, body, str(uuid.uuid4())).json()["id"] not in (keyed["id"], unkeyed["id"])


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_overlong_key_is_a_422(api, key):
    answer = post(api, {"model": MODEL, "n": 1}, key)
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    assert answer.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_key_of_255_characters_is_accepted(api):
    assert post(api, {"model": MODEL, "n": 1}, uuid.uuid4().hex + "k" * 223).status_code == 202


def test_a_request_that_fails_gives_its_key_back(api):
    key = str(uuid.uuid4())
    missing = post(api, {"model": "no-such-model", "n": 1}, key)
    assert missing.status_code == 404
    # not "another body under a used key": the failed request never took it
    assert post(api, {"model": MODEL, "n": 1}, key).status_code == 202


def test_concurrent_requests_with_one_key_make_one_job(stack, api):
    key, body = str(uuid.uuid4()), {"model": MODEL, "n": 4}
    before = job_count(stack)
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: post(api, body, key), range(12)))
    assert all(a.status_code in (200, 202) for a in answers), [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert job_count(stack) == before + 1
