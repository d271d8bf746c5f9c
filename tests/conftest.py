"""Fixtures that start the real parts: a Redis server, Celery worker processes, the API over HTTP.

Nothing is faked: the API and the worker run as separate processes, as in production, and
talk through a redis-server started here on a free port.
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from service.job_store import JobStore
from service.local_redis import LocalRedis, free_port, start_redis
from service.run_local import worker_command
from workers.presence import live_workers

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    """One isolated GANForge: its own Redis, state folder, API and workers."""

    redis_server: LocalRedis
    state_dir: Path
    extra_env: dict = field(default_factory=dict)
    processes: list = field(default_factory=list)
    api_url: str | None = None

    @property
    def env(self) -> dict:
        return {
            **os.environ,
            "GANFORGE_REDIS_URL": self.redis_server.url,
            "GANFORGE_STATE_DIR": str(self.state_dir),
            "GANFORGE_WORKER_HEARTBEAT_S": "1",
            **self.extra_env,
        }

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_server.url)

    def start_worker(self, queues: str = "inference,training", concurrency: int = 8) -> subprocess.Popen:
        log = (self.state_dir / f"worker-{len(self.processes)}.log").open("w")
        process = subprocess.Popen(
            worker_command(queues=queues, concurrency=concurrency, name=f"test{len(self.processes)}"),
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while not any(w["pid"] == process.pid for w in live_workers(self.redis)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: see {log.name}")
            time.sleep(0.2)
        return process

    def start_api(self) -> str:
        port = free_port()
        log = (self.state_dir / "api.log").open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "service.app"], cwd=REPO,
            env={**self.env, "GANFORGE_PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return self.api_url
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not start: see {log.name}")
            time.sleep(0.2)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, timeout=60)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *_) -> None:
        self.stop()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.redis_server.stop()


def make_stack(tmp_path_factory, name: str, **extra_env: str) -> Stack:
    state = tmp_path_factory.mktemp(name)
    return Stack(start_redis(state / "redis"), state, {k: str(v) for k, v in extra_env.items()})


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


def wait_for_status(client: httpx.Client, job_id: str, statuses: set[str], timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.05)
