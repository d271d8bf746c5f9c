"""Restarts under load at c=32 fail nothing: a rolling restart of two API processes fails no
request (`Prefer: wait` and one-call picture answers alike), and a rolling restart of the workers
fails and repeats no job."""

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from conftest import make_stack

from service.local.stack import serving_processes

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-durability-tests"
CLIENTS = 32


class Load:
    """CLIENTS threads, each with its own keep-alive connection, sending `request(client, i)` in a
    loop until stopped; every answer is checked by `request`, and whatever fails is kept."""

    def __init__(self, url: str, request: Callable[[httpx.Client, int], str | None]):
        self.url, self.request = url, request
        self.stop = threading.Event()
        self.answered = 0
        self.failures: list[str] = []
        self.outcomes: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            sent = 0
            while not self.stop.is_set():
                try:
                    outcome = self.request(client, index * 1_000_000 + sent)
                except httpx.HTTPError as error:
                    outcome, failure = None, f"{type(error).__name__}: {error}"
                else:
                    failure = None
                sent += 1
                with self._lock:
                    self.answered += 1
                    if failure is not None:
                        self.failures.append(failure)
                    elif outcome is not None:
                        self.outcomes.append(outcome)


def _one_call(client: httpx.Client, n: int) -> str | None:
    """A `Prefer: wait` job or a one-call picture, alternately; None when answered as it should be."""
    if n % 2:
        answer = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1},
                             headers={"Accept": "image/png", "Prefer": "wait=30"})
        ok = answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    else:
        answer = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=30"})
        ok = answer.status_code == 200 and answer.json()["status"] == "succeeded"
    if not ok:
        raise httpx.HTTPError(f"{answer.status_code} {answer.headers.get('content-type')}: {answer.text[:200]}")
    return None


def test_a_rolling_restart_of_two_api_processes_fails_no_request(tmp_path_factory):
    with make_stack(tmp_path_factory, "api-restart", GANFORGE_API_PROCESSES="2", GANFORGE_API_GRACE_S="20",
                    GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker(queues="inference", concurrency=8)
        stack.start_api()
        api = stack.children["api"]
        before = serving_processes(api.pid)
        assert len(before) == 2, before
        with Load(stack.api_url, _one_call) as load:
            time.sleep(4)
            answered_before = load.answered
            started = time.monotonic()
            stack.restart_api()
            restart_s = time.monotonic() - started
            answered_during = load.answered - answered_before
            time.sleep(3)
        after = serving_processes(api.pid)
        print(f"\nAPI rolling restart: {restart_s:.1f} s, {answered_during} requests answered during it, "
              f"{load.answered} in all, {len(load.failures)} failed")
        assert not load.failures, Counter(load.failures).most_common(5)
        assert len(after) == 2 and not after & before, (before, after)
        assert answered_during > 0 and load.answered > 100
