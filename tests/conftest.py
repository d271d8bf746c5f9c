"""Fixtures that start the real parts: a Redis server, Celery worker processes, the API over HTTP.

Nothing is faked: the API and the worker run as separate processes, as in production, and
talk through a redis-server started here on a free port.
"""

import time
import uuid
from collections.abc import Callable

import httpx
import pytest
import redis

from service.core.job_store import JobStore
from service.local.redis_server import start_redis
from service.local.stack import LocalStack
from tests.s3_server import LocalS3, start_s3


def make_stack(tmp_path_factory, name: str, **extra_env: str) -> LocalStack:
    """One isolated GANForge with its own Redis already started; workers and API as the test needs."""
    env = {"GANFORGE_WORKER_HEARTBEAT_S": "1", **{k: str(v) for k, v in extra_env.items()}}
    stack = LocalStack(tmp_path_factory.mktemp(name), env)
    stack.start_redis()
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The shared picture most tests use: Redis, one worker on both queues, the API."""
    with make_stack(tmp_path_factory, "stack") as stack:
        stack.start_worker()
        stack.start_api()
        yield stack


@pytest.fixture
def api(stack) -> httpx.Client:
    with stack.client() as client:
        yield client


@pytest.fixture
def fresh_stack(tmp_path_factory):
    """A stack of a test's own, started piece by piece by the test."""
    with make_stack(tmp_path_factory, "fresh") as stack:
        yield stack


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A job store on a Redis server of the module's own, for tests below the HTTP layer."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield JobStore(redis.Redis.from_url(server.url), job_ttl_s=60, output_ttl_s=60)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> LocalS3:
    """A real S3-compatible server (moto's, as a process of its own) for the tests' buckets."""
    server = start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server, monkeypatch) -> str:
    """A fresh, empty bucket of the test's own on `s3_server`, with this process's AWS variables
    pointing at that server (as a deployment's would): its `s3://` URL."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return f"s3://{s3_server.create_bucket(f'ganforge-{uuid.uuid4().hex[:12]}')}"


def wait_until(check: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    """Whether `check()` came true within `timeout_s` (looked at every 0.2 s)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def wait_for_status(client: httpx.Client, job_id: str, statuses: set[str], timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.05)
