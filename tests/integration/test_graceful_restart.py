"""Restarts under load at c=32 fail nothing: a rolling restart of two API processes fails no
request (`Prefer: wait` and one-call picture answers alike), and a rolling restart of the workers
fails and repeats no job."""

import json
import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from conftest import make_stack

from service.core import keys
from service.core.job_store.codec import decode_record
from service.local.stack import serving_processes

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-durability-tests"
CLIENTS = 32
TINY = {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}


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


def _one_call(client: httpx.Client, n: int) -> str:
    """A `Prefer: wait` job or a one-call picture, alternately; answers the job's id once it
    succeeded, and raises for any other answer."""
    if n % 2:
        answer = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1},
                             headers={"Accept": "image/png", "Prefer": "wait=30"})
        ok = answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        job_id = answer.headers.get("GANForge-Job-Id", "")
    else:
        answer = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=30"})
        ok = answer.status_code == 200 and answer.json()["status"] == "succeeded"
        job_id = answer.json().get("id", "") if ok else ""
    if not ok:
        raise httpx.HTTPError(f"{answer.status_code} {answer.headers.get('content-type')}: {answer.text[:200]}")
    return job_id


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


def test_a_rolling_restart_of_the_workers_fails_and_repeats_no_job(tmp_path_factory):
    with make_stack(tmp_path_factory, "worker-restart", GANFORGE_ADMIN_KEY=ADMIN_KEY,
                    GANFORGE_TRAIN_EVAL_SAMPLES="0") as stack:
        stack.start_worker(concurrency=8, name="worker")  # every queue: inference jobs and a training
        stack.start_api()
        with stack.client() as client:
            training = client.post("/train", json={
                "architecture": "cdcgan", "dataset": "digits", "model_name": "restart-digits", "image_size": 8,
                "steps": 1_000_000, "seed": 1, "hyperparameters": TINY, "checkpoint_every": 10, "sample_every": 0})
            assert training.status_code == 202, training.text
            training_id = training.json()["id"]
            deadline = time.monotonic() + 60
            while ((client.get(f"/jobs/{training_id}").json().get("progress") or {}).get("step", 0) < 20
                   and time.monotonic() < deadline):
                time.sleep(0.3)

            with Load(stack.api_url, _one_call) as load:
                time.sleep(3)
                started = time.monotonic()
                replaced = stack.restart_workers()
                restart_s = time.monotonic() - started
                time.sleep(3)
            print(f"\nworker rolling restart: {restart_s:.1f} s, {load.answered} requests, "
                  f"{len(load.failures)} failed")
            assert replaced == ["worker"]
            assert not load.failures, Counter(load.failures).most_common(5)
            assert len(load.outcomes) > 100

            # Every job ran once: one delivery, and it succeeded.
            pipe = stack.redis.pipeline(transaction=False)
            for job_id in load.outcomes:
                pipe.hgetall(keys.job(job_id))  # whole: a record may be packed a minute after its end
            runs = Counter((job.status.value, job.deliveries) for job in map(decode_record, pipe.execute()))
            assert runs == {("succeeded", 1): len(load.outcomes)}, runs

            # The training checkpointed, went back to the queue and resumed on the new worker.
            deadline = time.monotonic() + 90
            job = client.get(f"/jobs/{training_id}").json()
            while not (job["status"] == "running" and job["deliveries"] == 2) and time.monotonic() < deadline:
                time.sleep(0.5)
                job = client.get(f"/jobs/{training_id}").json()
            assert job["status"] == "running" and job["deliveries"] == 2, job
            def read_events() -> list[tuple[str, object]]:
                return [(fields[b"event"].decode(), json.loads(fields[b"data"]))
                        for _, fields in stack.redis.xrange(keys.job_events(training_id))]

            # The new worker says `resumed` once it has loaded the checkpoint, a moment after `running`.
            while not any(event == "resumed" for event, _ in read_events()) and time.monotonic() < deadline:
                time.sleep(0.3)
            events = read_events()
            assert [data for event, data in events if event == "status"] == ["queued", "running", "queued", "running"]
            assert [data["step"] for event, data in events if event == "resumed"][0] >= 10, events
            assert client.post(f"/jobs/{training_id}/cancel").status_code in (200, 202)
