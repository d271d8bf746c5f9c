"""A training host told to stop (SIGTERM) checkpoints, waits for that checkpoint to reach the
bucket (checkpoints go up off the training step, models/artifacts/mirror.py), and only then hands
the job back: a fresh host with an empty folder resumes from exactly the step where it stopped."""

import time

import pytest
from archives import classes_files, zip_bytes
from conftest import wait_for_status

from service.local.stack import LocalStack
from training.trainers.checkpoints import latest_checkpoint, read_meta

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket_stack(tmp_path_factory, s3_bucket):
    """The API on a bucket with a state folder of its own; training hosts are started by the test."""
    root = tmp_path_factory.mktemp("flush-stack")
    stack = LocalStack(root / "stack", {
        "GANFORGE_WORKER_HEARTBEAT_S": "1",
        "GANFORGE_ARTIFACTS_URL": f"{s3_bucket}/deploy",
        "GANFORGE_STATE_DIR": str(root / "api-host"),
    })
    with stack:
        stack.start_redis()
        stack.start_api()
        stack.hosts = root
        yield stack


def test_a_stopped_training_hands_back_its_job_only_once_its_last_checkpoint_is_in_the_bucket(bucket_stack):
    hosts = bucket_stack.hosts
    first = bucket_stack.start_worker(queues="training", concurrency=1, name="training-a",
                                      env={"GANFORGE_STATE_DIR": str(hosts / "training-a")})
    body = {"architecture": "cdcgan", "dataset": None, "model_name": "flushed", "image_size": 8,
            "steps": 400, "seed": 1, "checkpoint_every": 1000, "sample_every": 0,
            "hyperparameters": {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}}
    with bucket_stack.client() as client:
        uploaded = client.post("/datasets", files={"file": ("pets.zip", zip_bytes(classes_files()))},
                               data={"layout": "classes", "name": "pets"})
        assert uploaded.status_code == 201, uploaded.text
        body["dataset"] = uploaded.json()["id"]
        job = client.post("/train", json=body).json()
        deadline = time.monotonic() + 120
        while (client.get(f"/jobs/{job['id']}").json().get("progress") or {}).get("step", 0) < 30:
            assert time.monotonic() < deadline, "training made no progress"
            time.sleep(0.1)
        first.terminate()  # SIGTERM: Celery's warm shutdown
        first.wait(timeout=120)

        # No save before the stop (checkpoint_every > steps): the one checkpoint is the stop's own,
        # and it was in the bucket before host A let the job go and exited.
        stopped_at = read_meta(latest_checkpoint(hosts / "training-a" / "artifacts" / "checkpoints" / job["id"]))["step"]
        assert 30 <= stopped_at < 400
        bucket_stack.start_worker(queues="training", concurrency=1, name="training-b",
                                  env={"GANFORGE_STATE_DIR": str(hosts / "training-b")})
        finished = wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout_s=300)
        assert finished["status"] == "succeeded", finished
        assert finished["metrics"]["resumed_from_step"] == stopped_at and finished["metrics"]["steps"] == 400
