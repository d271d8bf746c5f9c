"""The generator quality gate over HTTP: a new version is registered, but `latest` moves to it
only when its FID beats the previous `latest`'s, measured on the same data with the same
extractor and sample counts; `promote: always` overrides; the job and the manifest say why."""

import pytest
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
