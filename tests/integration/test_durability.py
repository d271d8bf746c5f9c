"""Nothing lost when redis-server is SIGKILLed and started again (same port, same data folder):
every job answered 202 reaches a terminal state and stays readable with its outputs, events and
idempotency key; and a job whose store stays away past the bound fails saying so."""

import itertools
import json
import threading
import time

import httpx
import pytest
from conftest import make_stack

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-durability-tests"


def submit_steadily(client: httpx.Client, accepted: dict[str, str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        key = f"durable-{n}"
        n += 1
        try:
            response = client.post("/generate", json={"model": "mnist-cdcgan", "n": 2},
                                   headers={"Idempotency-Key": key}, timeout=10)
        except httpx.HTTPError:
            continue
        if response.status_code == 202:
            accepted[key] = response.json()["id"]
        time.sleep(0.02)


def test_a_killed_redis_loses_no_accepted_job(tmp_path_factory):
    with make_stack(tmp_path_factory, "durable", GANFORGE_LEASE_TTL_S="6", GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker()
        stack.start_api()
        accepted: dict[str, str] = {}
        stop = threading.Event()
        with stack.client() as client:
            submitter = threading.Thread(target=submit_steadily, args=(client, accepted, stop))
            submitter.start()
            time.sleep(3)
            before_kill = len(accepted)
            stack.kill_redis()
            time.sleep(2)
            stack.restart_redis()
            time.sleep(3)
            stop.set()
            submitter.join()
            assert before_kill > 10 and len(accepted) > before_kill  # load before and after the restart

            deadline = time.monotonic() + 90
            pending = dict(accepted)
            while pending and time.monotonic() < deadline:
                for key, job_id in list(pending.items()):
                    job = client.get(f"/jobs/{job_id}").json()
                    assert job.get("status") is not None, (job_id, job)  # never a 404
                    if job["status"] in ("succeeded", "failed", "canceled"):
                        del pending[key]
                time.sleep(0.5)
            assert not pending, f"{len(pending)} of {len(accepted)} accepted jobs never finished"

            for key, job_id in accepted.items():
                job = client.get(f"/jobs/{job_id}").json()
                assert job["status"] == "succeeded", job
                assert client.get(job["outputs"][0]["url"]).status_code == 200
                again = client.post("/generate", json={"model": "mnist-cdcgan", "n": 2}, headers={"Idempotency-Key": key})
                assert again.json()["id"] == job_id  # the idempotency key survived
            some = next(iter(accepted.values()))
            events = client.get(f"/jobs/{some}/events", timeout=10).text
            assert "event: status" in events and "event: end" in events


def test_a_worker_rides_out_an_outage_longer_than_30_s(tmp_path_factory):
    with make_stack(tmp_path_factory, "outage", GANFORGE_LEASE_TTL_S="6", GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker()
        stack.start_api()
        worker = stack.children["worker-0"].process
        with stack.client() as client:
            stack.kill_redis()
            time.sleep(32)
            stack.restart_redis()
            assert worker.poll() is None  # the worker lived through it
            deadline = time.monotonic() + 60
            while True:  # the API and worker reconnect by themselves
                response = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1},
                                       headers={"Prefer": "wait=20"}, timeout=30)
                if response.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "succeeded"


# -- a training through a 30 s outage --------------------------------------------------------------

TINY = {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}


def train_body(name: str, steps: int) -> dict:
    return {"architecture": "cdcgan", "dataset": "digits", "model_name": name, "image_size": 8, "steps": steps,
            "seed": 1, "hyperparameters": TINY, "checkpoint_every": max(1, steps // 25),
            "sample_every": max(1, steps // 8)}  # grids fall due during the outage too


def progress_step(client: httpx.Client, job_id: str) -> int:
    return (client.get(f"/jobs/{job_id}").json().get("progress") or {}).get("step", 0)


def newest_checkpoint(stack, job_id: str) -> int:
    folder = stack.state_dir / "artifacts" / "checkpoints" / job_id
    return max((int(p.stem.split("-")[1]) for p in folder.glob("step-*.json")), default=0)


def steps_for_seconds(client: httpx.Client, seconds: float) -> int:
    """How many steps this machine trains in `seconds` now (it is shared; speed varies 50x with load):
    a probe training's rate over a few seconds, then the probe is canceled."""
    probe = client.post("/train", json=train_body("outage-probe", 1_000_000)).json()["id"]
    deadline = time.monotonic() + 180
    while progress_step(client, probe) < 2:
        assert time.monotonic() < deadline, "the probe training never started"
        time.sleep(0.2)
    first, began = progress_step(client, probe), time.monotonic()
    time.sleep(6)
    rate = (progress_step(client, probe) - first) / (time.monotonic() - began)
    client.post(f"/jobs/{probe}/cancel")
    return int(min(20_000, max(100, rate * seconds)))


def test_a_training_keeps_training_through_a_30_s_outage(tmp_path_factory):
    with make_stack(tmp_path_factory, "train-outage", GANFORGE_LEASE_TTL_S="6", GANFORGE_ADMIN_KEY=ADMIN_KEY,
                    GANFORGE_TRAIN_EVAL_SAMPLES="0") as stack:
        worker = stack.start_worker(queues="training", concurrency=1)
        stack.start_api()
        with stack.client() as client:
            steps = steps_for_seconds(client, 75)  # outlasts the 32 s outage with room to spare
            job_id = client.post("/train", json=train_body("outage-digits", steps)).json()["id"]
            deadline = time.monotonic() + 120
            while newest_checkpoint(stack, job_id) == 0:
                assert time.monotonic() < deadline, "the training wrote no checkpoint"
                time.sleep(0.2)
            stack.kill_redis()
            checkpoint_at_kill = newest_checkpoint(stack, job_id)
            time.sleep(32)
            checkpoint_at_restart = newest_checkpoint(stack, job_id)
            stack.restart_redis()
            assert worker.poll() is None
            assert checkpoint_at_restart > checkpoint_at_kill, "the training stood still while Redis was away"

            deadline = time.monotonic() + 600
            while (job := client.get(f"/jobs/{job_id}").json())["status"] not in ("succeeded", "failed", "canceled"):
                assert time.monotonic() < deadline, job.get("progress")
                time.sleep(0.5)
            assert job["status"] == "succeeded", job["error"]
            assert job["metrics"]["steps"] == steps
            assert job["metrics"]["resumed_from_step"] == 0  # one run all along: never started again
            events = client.get(f"/jobs/{job_id}/events", timeout=10).text
            assert events.count('"status": "running"') == 1, events
            lines = events.splitlines()
            synced = [json.loads(data[6:])["progress"]["step"] for name, data in itertools.pairwise(lines)
                      if name == "event: progress" and data.startswith("data: ")]
            # Progress re-synced after the outage: reports past every step reached while Redis was away.
            assert any(step > checkpoint_at_restart for step in synced), synced
            assert client.get(f"/models/{job['model']['name']}").status_code == 200  # and its version registered
