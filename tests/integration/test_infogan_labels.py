"""InfoGAN's category matched to digits (issue 27, item 3): the bundled mnist-infogan takes
`labels` and draws the digit asked for; a training on digit data records its own matching."""

import io

import numpy as np
import pytest
from conftest import wait_for_status
from PIL import Image

from training.evaluation.metrics import MnistExtractor

pytestmark = pytest.mark.integration


def pictures(api, body: dict) -> np.ndarray:
    answer = api.post("/generate", json={"format": "png", **body}, headers={"Prefer": "wait=60"})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded", job
    images = [np.asarray(Image.open(io.BytesIO(api.get(o["url"]).content)), dtype=np.float32) / 255
              for o in job["outputs"]]
    return np.stack(images)[:, None]


def test_labels_ask_the_bundled_infogan_for_a_digit(api):
    category = api.get("/models/mnist-infogan").json()["latest"]["signature"]["codes"][0]
    assert category["draws"][3] == 1 and category["agreement"] >= 0.9  # value 3 draws ones
    judge = MnistExtractor()
    for digit in (1, 3, 6):
        read = judge.logits(pictures(api, {"model": "mnist-infogan", "n": 12, "seed": 4, "labels": [digit]}))
        assert (read.argmax(axis=1) == digit).mean() >= 0.75, (digit, read.argmax(axis=1))
    per_image = pictures(api, {"model": "mnist-infogan", "n": 2, "seed": 4, "labels": [7, 0]})
    assert judge.logits(per_image).argmax(axis=1).tolist() == [7, 0]

    for body, field in (({"labels": [10]}, "labels.0"), ({"labels": [1, 2]}, "labels"),
                        ({"labels": [1], "codes": {"category": 2}}, "codes.category")):
        answer = api.post("/generate", json={"model": "mnist-infogan", "n": 3, "seed": 1, **body})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["errors"][0]["field"] == field, answer.text


def test_an_infogan_trained_on_digits_records_which_value_draws_which_digit(api):
    body = {"architecture": "infogan", "dataset": "digits", "model_name": "digits-info-labelled", "image_size": 8,
            "steps": 6, "seed": 3, "sample_every": 0, "checkpoint_every": 0,
            "hyperparameters": {"latent_dim": 8, "base_features": 8, "batch_size": 16, "continuous_codes": 1}}
    answer = api.post("/train", json=body)
    assert answer.status_code == 202, answer.text
    job = wait_for_status(api, answer.json()["id"], {"succeeded", "failed"}, timeout_s=300)
    assert job["status"] == "succeeded", job
    manifest = api.get(f"/models/digits-info-labelled/versions/{job['model']['version']}").json()
    category = manifest["signature"]["codes"][0]
    assert sorted(category["draws"]) == list(range(10)) and 0 <= category["agreement"] <= 1
    assert category["judged_by"].startswith("mnist_cnn (bicubic_aa_pad4)")  # digits framed as MNIST's
    assert job["metrics"]["codes"][0]["draws"] == category["draws"]
    # six steps learn no digits, but the figures say so: class accuracy through the matched labels
    assert 0 <= job["metrics"]["evaluation"]["class_accuracy"] <= 1, job["metrics"]
    generated = api.post("/generate", json={"model": f"digits-info-labelled:{job['model']['version']}", "n": 2,
                                             "seed": 1, "labels": [5]}, headers={"Prefer": "wait=60"})
    assert generated.status_code == 200 and generated.json()["status"] == "succeeded", generated.text
