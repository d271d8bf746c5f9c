"""The generator quality gate over HTTP: a new version is registered, but `latest` moves to it
only when its FID beats the previous `latest`'s, measured on the same data with the same
extractor and sample counts; `promote: always` overrides; the job and the manifest say why."""

import pytest
from archives import png, zip_bytes
from conftest import wait_for_status

pytestmark = pytest.mark.integration

NAME = "gated-digits"


def train(api, steps: int, seed: int, **extra) -> dict:
    body = {"architecture": "dcgan", "dataset": "digits", "model_name": NAME, "steps": steps, "image_size": 8,
            "seed": seed, "checkpoint_every": 0, "sample_every": 0, "hyperparameters": {"base_features": 16}, **extra}
    answer = api.post("/train", json=body)
    assert answer.status_code == 202, answer.text
    job = wait_for_status(api, answer.json()["id"], {"succeeded", "failed"}, timeout_s=600)
    assert job["status"] == "succeeded", job
    return job


def test_a_worse_generator_is_registered_but_latest_stays(api):
    first = train(api, 300, 0)
    gate = first["metrics"]["quality_gate"]
    assert gate["promoted"] is True and "first version" in gate["reason"]

    worse = train(api, 1, 1)  # one step from random weights
    gate = worse["metrics"]["quality_gate"]
    assert gate["promoted"] is False and gate["baseline"] == "previous version", gate
    assert gate["reason"].startswith("does not beat previous version: FID"), gate
    fid_new = worse["metrics"]["evaluation"]["fid"]
    assert fid_new > first["metrics"]["evaluation"]["fid"]
    model = api.get(f"/models/{NAME}").json()
    assert model["aliases"]["latest"] == first["model"]["version"] != worse["model"]["version"]
    manifest = api.get(f"/models/{NAME}/versions/{worse['model']['version']}").json()
    assert manifest["metrics"]["quality_gate"] == gate

    forced = train(api, 1, 2, promote="always")
    assert forced["metrics"]["quality_gate"]["promoted"] is True
    assert api.get(f"/models/{NAME}").json()["aliases"]["latest"] == forced["model"]["version"]


def test_a_short_unmeasured_run_after_a_longer_one_does_not_move_latest(api):
    """Issue 27: colour images are judged by Inception, which trainings do not run by default
    (GANFORGE_TRAIN_EVAL_INCEPTION_SAMPLES=0): the new version cannot be measured, so if_better
    registers it and leaves `latest` where it was, and the job says why."""
    files = {f"{shade}/{i}.png": png((40 * i, 200 if shade == "red" else 0, 90), size=(8, 8))
             for shade in ("red", "blue") for i in range(6)}
    upload = api.post("/datasets", files={"file": ("shapes.zip", zip_bytes(files))}, data={"layout": "classes"})
    assert upload.status_code == 201, upload.text
    shapes = {"dataset": upload.json()["id"], "image_size": None, "hyperparameters": {"base_features": 8,
                                                                                      "batch_size": 8}}
    name = "gated-shapes"
    longer = train(api, 30, 0, **shapes, model_name=name)
    first_gate = longer["metrics"]["quality_gate"]
    assert first_gate["promoted"] is True and first_gate["measured"] is False  # nothing else to serve

    short = train(api, 2, 1, **shapes, model_name=name)
    gate = short["metrics"]["quality_gate"]
    assert gate["promoted"] is False and gate["measured"] is False, gate
    assert gate["reason"].startswith("not measured against previous version: the new version has no FID"), gate
    assert f"`latest` stays on {name}:{longer['model']['version']}" in gate["reason"]
    assert "evaluation_skipped" in short["metrics"] and "evaluation" not in short["metrics"]
    assert api.get(f"/models/{name}").json()["aliases"]["latest"] == longer["model"]["version"]
    manifest = api.get(f"/models/{name}/versions/{short['model']['version']}").json()
    assert manifest["metrics"]["quality_gate"] == gate
