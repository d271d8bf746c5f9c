"""`make run` supervision: a SIGKILLed worker is started again while the API keeps answering, and
every job is done within 30 s of the restart."""

import signal
import threading
import time

import pytest
from conftest import make_stack

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-durability-tests"


def test_a_killed_worker_is_restarted_and_every_job_finishes(tmp_path_factory):
    with make_stack(tmp_path_factory, "supervised", GANFORGE_LEASE_TTL_S="6", GANFORGE_LOST_JOB_GRACE_S="10",
                    GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker()
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
                ids = [client.post("/generate", json={"model": "mnist-cdcgan", "n": 4}).json()["id"] for _ in range(20)]
                worker = stack.children["worker-0"]
                old_pid = worker.pid
                worker.process.send_signal(signal.SIGKILL)
                ids += [client.post("/generate", json={"model": "mnist-cdcgan", "n": 4}).json()["id"] for _ in range(20)]
                assert client.get("/health", timeout=2).status_code == 200  # the API kept answering
                deadline = time.monotonic() + 60
                while worker.pid == old_pid and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert restarts == ["worker-0"] and stack.children["api"].process.poll() is None
                stack.wait_for_worker(worker, 60)
                restarted_at = time.monotonic()
                pending = set(ids)
                while pending and time.monotonic() - restarted_at < 30:
                    pending = {i for i in pending if client.get(f"/jobs/{i}").json()["status"] != "succeeded"}
                    time.sleep(0.5)
                stuck = {i: client.get(f"/jobs/{i}").json()["status"] for i in pending}
                fetched = {k.decode(): v.decode() for k, v in stack.redis.hgetall("gf:received").items()}
                assert not pending, f"jobs not done 30 s after the restart: {stuck}, fetched by {fetched}"
        finally:
            stop.set()
            supervisor.join()
