"""`make run` (`python -m service.local`) with GANFORGE_TRAINING_WORKERS=2: trainings run one per
process, so two at once both succeed, each in a training worker of its own; /ready's admin details
name every worker's device and memory; /metrics serves without GPU gauges on a CPU machine; and a
killed training worker is started again by the supervisor."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import wait_for_status

from service.local.redis_server import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ADMIN_KEY = "gfk_test-admin-key-for-training-workers"
TINY = {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}


def train_body(name: str, seed: int) -> dict:
    return {"architecture": "cdcgan", "dataset": "digits", "model_name": name, "image_size": 8, "steps": 20,
            "seed": seed, "hyperparameters": TINY, "checkpoint_every": 0, "sample_every": 0}


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`python -m service.local` on a free port, with two training workers; its log in the state folder."""
    root = tmp_path_factory.mktemp("make-run")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANFORGE_")}
    env.update(GANFORGE_STATE_DIR=str(root / "state"), GANFORGE_PORT=str(port), GANFORGE_ADMIN_KEY=ADMIN_KEY,
               GANFORGE_WORKER_HEARTBEAT_S="1", GANFORGE_WORKER_CONCURRENCY="2", GANFORGE_TRAIN_EVAL_SAMPLES="0",
               GANFORGE_TRAINING_WORKERS="2")
    log_path = root / "service.log"
    log = log_path.open("wb")
    process = subprocess.Popen([sys.executable, "-m", "service.local"], cwd=REPO, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            deadline = time.monotonic() + 120
            while "try: curl" not in log_path.read_text(errors="replace"):  # printed once every process is up
                assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.3)
            yield client
    finally:
        process.send_signal(signal.SIGTERM)  # service.local stops its workers, API and Redis
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def workers_of(client: httpx.Client) -> list[dict]:
    answer = client.get("/ready")
    assert answer.status_code == 200, answer.text
    return answer.json()["workers"]


def training_workers(client: httpx.Client) -> list[dict]:
    return [w for w in workers_of(client) if w["queues"] == ["training"]]


def test_make_run_starts_one_process_per_training_beside_the_inference_workers(make_run):
    workers = workers_of(make_run)
    assert sorted(tuple(w["queues"]) for w in workers) == [
        ("inference",), ("inference-heavy",), ("training",), ("training",)]
    assert len({w["pid"] for w in workers}) == 4


def test_ready_names_each_workers_device_and_memory(make_run):
    assert "workers" not in httpx.get(f"{make_run.base_url}/ready").json()  # admin details only
    for worker in workers_of(make_run):
        assert worker["device"] == "cpu", worker
        memory = worker["memory"]
        assert memory["of"] == "host" and 0 < memory["used_bytes"] < memory["total_bytes"], worker
        assert worker["gpus"] == []
        if worker["queues"] == ["training"]:
            assert "providers" not in worker
        else:  # inference workers name their ONNX Runtime providers, and never load torch
            assert worker["providers"] == ["CPUExecutionProvider"], worker
            maps = Path(f"/proc/{worker['pid']}/maps").read_text()
            assert "libtorch" not in maps, f"{worker['queues']} worker loaded torch"


def test_metrics_serve_without_gpu_gauges_on_a_cpu_machine(make_run):
    answer = make_run.get("/metrics")
    assert answer.status_code == 200
    assert "ganforge_gpu_" not in answer.text
    assert 'ganforge_workers_live{queue="training"} 2.0' in answer.text


def test_two_trainings_at_once_both_succeed_each_in_its_own_process(make_run):
    trainers = {w["id"] for w in training_workers(make_run)}
    ids = []
    for i in range(2):
        answer = make_run.post("/train", json=train_body(f"parallel-{i}", seed=i + 1))
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    jobs = [wait_for_status(make_run, job_id, {"succeeded", "failed", "canceled"}, timeout_s=90) for job_id in ids]
    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"], [job.get("error") for job in jobs]
    ran_on = [job["metrics"]["worker"] for job in jobs]
    assert len(set(ran_on)) == 2 and set(ran_on) <= trainers, (ran_on, trainers)
    assert all(job["metrics"].get("device", "cpu") == "cpu" for job in jobs)
    first, second = jobs  # they ran at the same time, not one after the other
    assert first["started_at"] < second["finished_at"] and second["started_at"] < first["finished_at"], jobs


def test_a_killed_training_worker_is_started_again(make_run):
    victim = training_workers(make_run)[0]
    os.kill(victim["pid"], signal.SIGKILL)  # a worker process `make run` started for this test
    deadline = time.monotonic() + 60
    while True:
        pids = {w["pid"] for w in training_workers(make_run)}
        if len(pids) == 2 and victim["pid"] not in pids:
            break
        assert time.monotonic() < deadline, f"training workers now: {pids}"
        time.sleep(0.5)
    assert all(w["device"] == "cpu" for w in training_workers(make_run))
