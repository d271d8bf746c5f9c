"""Training over HTTP: a real worker trains, reports, is canceled, dies and resumes, and publishes."""

import json
import os
import signal
import time

import httpx
import pytest
from archives import png, zip_bytes
from conftest import make_stack, wait_for_status

from service.core import keys

pytestmark = pytest.mark.integration

TINY = {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}


def train_body(**overrides) -> dict:
    return {
        "architecture": "cdcgan", "dataset": "digits", "model_name": "digits-tiny", "image_size": 8,
        "steps": 40, "seed": 1, "hyperparameters": TINY, "checkpoint_every": 20, "sample_every": 20,
        **overrides,
    }


def read_events(client: httpx.Client, job_id: str, timeout_s: float = 180) -> list[tuple[str, dict]]:
    events, name = [], None
    with client.stream("GET", f"/jobs/{job_id}/events", timeout=timeout_s) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
                if name == "end":
                    break
    return events


def test_a_training_job_streams_progress_and_samples_then_serves_its_model(api):
    answer = api.post("/train", json=train_body())
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "train" and job["status"] == "queued" and job["params"]["hyperparameters"]["lr_g"] == 2e-4

    events = read_events(api, job["id"])
    names = [name for name, _ in events]
    statuses = [data["status"] for name, data in events if name == "status"]
    assert statuses[0] == "queued" and "running" in statuses and statuses[-1] == "succeeded"
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress and progress[-1]["step"] == progress[-1]["total"] == 40
    assert {"d", "g"} <= set(progress[-1]["losses"]) and progress[-1]["images_per_sec"] > 0
    assert [data["step"] for name, data in events if name == "checkpoint"] == [20, 40]
    samples = [data for name, data in events if name == "sample"]
    assert [s["step"] for s in samples] == [20, 40]
    assert api.get(samples[0]["url"]).headers["content-type"] == "image/png"
    assert names.index("registered") < len(names) - 1

    finished = events[-1][1]
    assert finished["status"] == "succeeded" and finished["model"]["name"] == "digits-tiny"
    version = finished["model"]["version"]
    assert finished["metrics"]["steps"] == 40 and finished["metrics"]["parity_max_abs_diff"] <= 1e-4

    # served at once, by the worker that is already running
    generated = api.post("/generate", json={"model": f"digits-tiny:{version}", "n": 4, "labels": [3]},
                         headers={"Prefer": "wait=30"}).json()
    assert generated["status"] == "succeeded", generated
    manifest = api.get(f"/models/digits-tiny/versions/{version}").json()
    assert manifest["provenance"]["job_id"] == job["id"] and manifest["provenance"]["dataset"] == "digits"
    assert manifest["signature"]["image_size"] == 8 and manifest["signature"]["num_classes"] == 10
    assert api.get("/models/digits-tiny").json()["aliases"]["latest"] == version


def test_training_on_an_uploaded_dataset(api):
    files = {f"{name}/{i}.png": png((30 * i, 200 if name == "red" else 0, 90), size=(8, 8))
             for name in ("red", "blue") for i in range(8)}
    upload = api.post("/datasets", files={"file": ("tiny.zip", zip_bytes(files))}, data={"layout": "classes"})
    assert upload.status_code == 201, upload.text
    dataset_id = upload.json()["id"]
    job = api.post("/train", json=train_body(dataset=dataset_id, model_name="tiny-upload", steps=6, image_size=None,
                                             hyperparameters={**TINY, "batch_size": 8}),
                   headers={"Prefer": "wait=120"}).json()
    assert job["status"] == "succeeded", job
    manifest = api.get("/models/tiny-upload").json()["latest"]
    assert manifest["signature"]["class_names"] == ["blue", "red"] and manifest["signature"]["channels"] == 3


@pytest.mark.parametrize("family", ["lsgan", "wgan-gp"])
def test_the_unconditional_loss_families_train_and_register(api, family):
    model_name = f"digits-{family}"
    body = train_body(architecture=family, model_name=model_name, steps=4, checkpoint_every=0, sample_every=0)
    job = api.post("/train", json=body, headers={"Prefer": "wait=120"}).json()
    assert job["status"] == "succeeded", job
    assert job["params"]["hyperparameters"]["loss"] == family.replace("-", "_")
    manifest = api.get(f"/models/{model_name}").json()["latest"]
    assert manifest["provenance"]["trainer"] == family and manifest["signature"]["inputs"] == ["z"]


def test_cancel_stops_a_running_training_within_5_s_and_keeps_its_checkpoint(api, stack):
    job = api.post("/train", json=train_body(model_name="never", steps=100_000, checkpoint_every=10_000)).json()
    running = wait_for_status(api, job["id"], {"running"}, timeout_s=60)
    deadline = time.monotonic() + 60
    while (api.get(f"/jobs/{job['id']}").json().get("progress") or {}).get("step", 0) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert running["status"] == "running"
    canceled_at = time.monotonic()
    assert api.post(f"/jobs/{job['id']}/cancel").json()["status"] == "canceled"
    while stack.redis.exists(keys.lease(job["id"])):  # the worker lets go of the job when it stops
        assert time.monotonic() - canceled_at < 5, "training still running 5 s after cancel"
        time.sleep(0.05)
    final = api.get(f"/jobs/{job['id']}").json()
    assert final["status"] == "canceled" and api.get("/models/never").status_code == 404
    checkpoints = list((stack.state_dir / "artifacts" / "checkpoints" / job["id"]).glob("step-*.safetensors"))
    assert checkpoints, "the canceled run should keep its newest checkpoint"


def test_a_killed_worker_s_training_resumes_from_its_checkpoint(tmp_path_factory):
    with make_stack(tmp_path_factory, "resume", GANFORGE_LEASE_TTL_S=3) as stack:
        first = stack.start_worker(queues="training", concurrency=1)
        stack.start_api()
        with stack.client() as api:
            job = api.post("/train", json=train_body(model_name="resumed", steps=400, checkpoint_every=25,
                                                     sample_every=0)).json()
            deadline = time.monotonic() + 120
            while (api.get(f"/jobs/{job['id']}").json().get("progress") or {}).get("step", 0) < 60:
                assert time.monotonic() < deadline, "training made no progress"
                time.sleep(0.1)
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            # Progress reports are throttled, so the newest checkpoint on disk is the truth to compare with.
            folder = stack.state_dir / "artifacts" / "checkpoints" / job["id"]
            newest = max(int(p.stem.split("-")[1]) for p in folder.glob("step-*.json"))

            stack.start_worker(queues="training", concurrency=1)
            finished = wait_for_status(api, job["id"], {"succeeded", "failed"}, timeout_s=240)
            assert finished["status"] == "succeeded", finished
            resumed_from = finished["metrics"]["resumed_from_step"]
            assert resumed_from == newest and resumed_from >= 50 and resumed_from % 25 == 0
            assert finished["metrics"]["steps"] == 400 and finished["model"]["name"] == "resumed"


# -- validation: a clear 4xx naming the field -----------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"architecture": "stylegan9"}, 422, "architecture"),
        ({"hyperparameters": {"learning_rate": 1}}, 422, "hyperparameters.learning_rate"),
        ({"hyperparameters": {"lr_g": -1}}, 422, "hyperparameters.lr_g"),
        ({"epochs": 2}, 422, "body"),
        ({"image_size": 30}, 422, "image_size"),
        ({"dataset": "skimage-photos"}, 422, "dataset"),
        ({"model_name": "Bad Name!"}, 422, "model_name"),
        ({"steps": 0}, 422, "steps"),
        ({"dataset": "no-such-data"}, 404, None),
    ],
)
def test_bad_training_requests_are_refused(api, overrides, status, field):
    answer = api.post("/train", json=train_body(**overrides))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if field:
        assert field in [e["field"] for e in answer.json()["errors"]], answer.json()


def test_architectures_are_listed_with_their_hyperparameters(api):
    listing = {a["name"]: a for a in api.get("/train/architectures").json()["architectures"]}
    assert listing["cdcgan"]["layouts"] == ["classes"]
    assert listing["dcgan"]["hyperparameters"]["properties"]["lr_g"]["default"] == 2e-4


def test_an_idempotent_training_request_creates_one_job(api):
    body = train_body(model_name="idem", steps=2, sample_every=0, checkpoint_every=0)
    first = api.post("/train", json=body, headers={"Idempotency-Key": "train-once-1"}).json()
    again = api.post("/train", json=body, headers={"Idempotency-Key": "train-once-1"}).json()
    assert again["id"] == first["id"]
    assert wait_for_status(api, first["id"], {"succeeded", "failed"}, timeout_s=120)["status"] == "succeeded"
