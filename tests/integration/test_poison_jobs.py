"""A job that kills its worker (a poison job) is sent again until its worker has died running it
GANFORGE_MAX_DELIVERIES times, then fails as `worker-crashed` naming how the worker ended, is
counted in /metrics by model version, and is never sent again; the workers, restarted by
supervision as `make run` does, serve every other job meanwhile.

The crash is the workers' test-only hook (workers/crash_for_tests.py): a worker started with
GANFORGE_TEST_CRASH_ON_MODEL=fashion-dcgan calls os._exit(86) when it starts a job on that model.
"""

import threading
import time

import pytest
from conftest import make_stack

from service.core.job_store import utcnow
from service.core.jobs import Job, JobStatus
from service.local.stack import exit_description
from workers.crash_for_tests import CRASH_EXIT_CODE

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-durability-tests"
POISON_MODEL = "fashion-dcgan"


def test_a_job_that_kills_its_worker_fails_after_three_deliveries_while_others_are_served(tmp_path_factory):
    with make_stack(tmp_path_factory, "poison", GANFORGE_LEASE_TTL_S="4", GANFORGE_MAX_DELIVERIES="3",
                    GANFORGE_TEST_CRASH_ON_MODEL=POISON_MODEL, GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker(concurrency=2)
        stack.start_worker(concurrency=2)
        stack.start_api()
        stop = threading.Event()
        restarts: list[str] = []

        def supervise() -> None:  # what `python -m service.local` does in its main loop
            while not stop.is_set():
                restarts.extend(stack.restart_dead(backoff_s=0.5))
                time.sleep(0.2)

        supervisor = threading.Thread(target=supervise)
        supervisor.start()
        try:
            with stack.client() as client:
                poison = client.post("/generate", json={"model": POISON_MODEL, "n": 1})
                assert poison.status_code == 202, poison.text
                poison_id = poison.json()["id"]
                others: list[str] = []
                deadline = time.monotonic() + 150
                job = poison.json()
                while job["status"] not in ("failed", "succeeded") and time.monotonic() < deadline:
                    answer = client.post("/generate", json={"model": "mnist-cdcgan", "n": 2})
                    assert answer.status_code == 202, answer.text  # the API kept taking jobs
                    others.append(answer.json()["id"])
                    time.sleep(1.0)
                    job = client.get(f"/jobs/{poison_id}").json()

                assert job["status"] == "failed", f"still {job['status']} after {len(restarts)} worker restarts"
                assert job["error"]["type"] == "worker-crashed"
                assert "stopped 3 times" in job["error"]["detail"]
                assert f"exit code {CRASH_EXIT_CODE}" in job["error"]["detail"], job["error"]
                assert job["deliveries"] == 3
                assert len(restarts) == 3, restarts  # one worker death per delivery

                # Never sent again: no worker dies any more, and every other job finishes.
                pending = set(others)
                settle = time.monotonic() + 60
                while pending and time.monotonic() < settle:
                    pending = {i for i in pending if client.get(f"/jobs/{i}").json()["status"] != "succeeded"}
                    time.sleep(0.5)
                assert not pending, f"{len(pending)} of {len(others)} other jobs did not finish"
                time.sleep(6)  # past a lease TTL and two reaper rounds
                assert len(restarts) == 3, restarts
                assert client.get(f"/jobs/{poison_id}").json()["deliveries"] == 3

                metrics = client.get("/metrics").text
                line = f'ganforge_jobs_worker_crashed_total{{kind="generate",model="{POISON_MODEL}:1"}} 1.0'
                assert line in metrics, [m for m in metrics.splitlines() if "crashed" in m]
                logs = "".join(path.read_text() for path in stack.state_dir.glob("worker-*.log"))
                assert f"{poison_id} (generate on {POISON_MODEL}:1) failed as worker-crashed" in logs
        finally:
            stop.set()
            supervisor.join()


def test_a_lost_run_counts_once_however_often_reapers_find_it(store):
    store.create(Job(id="lost", kind="generate", status=JobStatus.queued, params={"n": 1}, created_at=utcnow()))
    store.start("lost", runner="host:1")
    assert store.get("lost").deliveries == 1
    # Two reapers, or one finding the job again while its new message waits in a busy queue.
    assert [store.count_lost_run("lost") for _ in range(3)] == [1, 1, 1]
    store.start("lost", runner="host:2")  # the next delivery dies too
    assert store.count_lost_run("lost") == 2 and store.count_lost_run("lost") == 2
    assert store.get("lost").deliveries == 2 and store.runner("lost") == "host:2"


def test_a_process_end_reads_as_an_exit_code_or_a_signal():
    assert exit_description(86) == "exit code 86"
    assert exit_description(-9) == "signal 9 (SIGKILL)"
