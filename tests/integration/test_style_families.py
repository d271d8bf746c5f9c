"""StyleGAN2 and SAGAN through POST /train, served at once by /generate with what a StyleGAN user
asks for: truncation psi, style mixing, noise modes and latent walks; models that cannot honour a
parameter refuse it with a 422 that names it."""

import io

import numpy as np
import pytest
from conftest import wait_for_status
from PIL import Image

pytestmark = pytest.mark.integration

STYLE_TINY = {"latent_dim": 16, "w_dim": 16, "mapping_layers": 2, "base_channels": 8, "max_channels": 16,
              "batch_size": 16, "conditional": True}


def train(api, architecture: str, name: str, hyperparameters: dict, steps: int = 12) -> dict:
    body = {"architecture": architecture, "dataset": "digits", "model_name": name, "image_size": 8,
            "steps": steps, "seed": 3, "hyperparameters": hyperparameters, "sample_every": steps}
    answer = api.post("/train", json=body)
    assert answer.status_code == 202, answer.text
    job = wait_for_status(api, answer.json()["id"], {"succeeded", "failed", "canceled"}, timeout_s=300)
    assert job["status"] == "succeeded", job
    return job


def generate(api, **body) -> list[np.ndarray]:
    answer = api.post("/generate", json={"format": "png", **body}, headers={"Prefer": "wait=60"})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded", job
    pictures = []
    for output in job["outputs"]:
        data = api.get(output["url"]).content
        if output["content_type"] == "image/png":
            pictures.append(np.asarray(Image.open(io.BytesIO(data)), dtype=np.int16))
    return pictures


@pytest.fixture(scope="module")
def style_model(stack):
    with stack.client() as api:
        job = train(api, "stylegan2", "digits-style", STYLE_TINY)
    return f"digits-style:{job['model']['version']}"


def test_a_trained_stylegan2_is_registered_with_its_style_signature(api, style_model):
    name, version = style_model.split(":")
    manifest = api.get(f"/models/{name}/versions/{version}").json()
    style = manifest["signature"]["style"]
    assert manifest["architecture"] == "stylegan2_generator"
    assert style["num_ws"] == len(style["layer_resolutions"]) == 4 and len(style["w_avg"]) == 16
    assert manifest["signature"]["num_classes"] == 10 and manifest["parity_max_abs_diff"] <= 1e-4


def test_psi_zero_is_one_image_for_every_seed_and_psi_one_is_no_truncation(api, style_model):
    (a,), (b,) = (generate(api, model=style_model, seed=s, labels=[2], truncation_psi=0.0) for s in (1, 2))
    assert np.abs(a - b).max() <= 1
    (plain,), (psi_one,), (other,) = (generate(api, model=style_model, seed=s, labels=[2], **extra)
                                      for s, extra in ((1, {}), (1, {"truncation_psi": 1.0}), (2, {})))
    assert np.array_equal(plain, psi_one)
    assert np.abs(plain - other).max() > 8


def test_style_mixing_from_layer_zero_is_the_second_seed(api, style_model):
    (mixed,) = generate(api, model=style_model, seed=1, labels=[2], style_mixing={"seed": 2, "crossover": 0})
    (second,) = generate(api, model=style_model, seed=2, labels=[2])
    assert np.abs(mixed - second).max() <= 1


def test_style_mixing_at_the_last_layer_stays_close_to_the_first_seed(api, style_model):
    name, version = style_model.split(":")
    last = api.get(f"/models/{name}/versions/{version}").json()["signature"]["style"]["num_ws"] - 1
    (mixed,) = generate(api, model=style_model, seed=1, labels=[2], style_mixing={"seed": 2, "crossover": last})
    (first,), (second,) = (generate(api, model=style_model, seed=s, labels=[2]) for s in (1, 2))
    # The last layer's style sets fine detail only: far nearer the first seed than the second seed is.
    assert np.abs(mixed - first).mean() < 0.25 * np.abs(second - first).mean()


def test_a_walk_returns_its_frames_and_an_animation_ending_at_both_seeds(api, style_model):
    answer = api.post("/generate", headers={"Prefer": "wait=60"}, json={
        "model": style_model, "seed": 1, "labels": [2], "interpolate": {"to_seed": 2, "frames": 5, "space": "w"}})
    job = answer.json()
    assert job["status"] == "succeeded", job
    names = [o["name"] for o in job["outputs"]]
    assert names == ["0.png", "1.png", "2.png", "3.png", "4.png", "walk.webp"]
    animation = Image.open(io.BytesIO(api.get(job["outputs"][-1]["url"]).content))
    assert animation.n_frames == 5
    first = np.asarray(Image.open(io.BytesIO(api.get(job["outputs"][0]["url"]).content)), dtype=np.int16)
    last = np.asarray(Image.open(io.BytesIO(api.get(job["outputs"][4]["url"]).content)), dtype=np.int16)
    (one,), (two,) = (generate(api, model=style_model, seed=s, labels=[2]) for s in (1, 2))
    assert np.abs(first - one).max() <= 1 and np.abs(last - two).max() <= 1


def test_random_noise_mode_changes_the_image_and_is_fixed_by_the_seed(api, style_model):
    (const,) = generate(api, model=style_model, seed=4, labels=[1])
    (noisy,) = generate(api, model=style_model, seed=4, labels=[1], noise_mode="random")
    (again,) = generate(api, model=style_model, seed=4, labels=[1], noise_mode="random")
    assert np.array_equal(noisy, again)
    assert not np.array_equal(noisy, const)


@pytest.mark.parametrize("body, field", [
    ({"truncation_psi": 0.5}, "truncation_psi"),
    ({"style_mixing": {"seed": 2, "crossover": 1}}, "style_mixing"),
    ({"noise_mode": "random"}, "noise_mode"),
    ({"interpolate": {"to_seed": 2, "frames": 4, "space": "w"}}, "interpolate.space"),
    ({"n": 2, "interpolate": {"to_seed": 2, "frames": 4, "space": "z"}}, "n"),
])
def test_style_parameters_on_a_model_without_styles_are_a_422_naming_them(api, body, field):
    answer = api.post("/generate", json={"model": "mnist-cdcgan", "seed": 1, **body})
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/problem+json")
    assert field in [error["field"] for error in answer.json()["errors"]], answer.json()


def test_a_crossover_past_the_last_layer_is_a_422(api, style_model):
    answer = api.post("/generate", json={"model": style_model, "seed": 1, "style_mixing": {"seed": 2, "crossover": 9}})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "style_mixing.crossover"


def test_any_generator_walks_in_z(api):
    answer = api.post("/generate", headers={"Prefer": "wait=60"}, json={
        "model": "mnist-cdcgan", "seed": 1, "labels": [7], "interpolate": {"to_seed": 9, "frames": 3, "space": "z",
                                                                           "animation": "gif"}})
    job = answer.json()
    assert job["status"] == "succeeded", job
    assert [o["content_type"] for o in job["outputs"]] == ["image/png"] * 3 + ["image/gif"]
    (start,) = generate(api, model="mnist-cdcgan", seed=1, labels=[7])
    first = np.asarray(Image.open(io.BytesIO(api.get(job["outputs"][0]["url"]).content)), dtype=np.int16)
    assert np.abs(first - start).max() <= 1


def test_sagan_trains_with_self_attention_and_serves(api):
    job = train(api, "sagan", "digits-sagan", {"base_features": 8, "batch_size": 16, "latent_dim": 16}, steps=6)
    version = job["model"]["version"]
    manifest = api.get(f"/models/digits-sagan/versions/{version}").json()
    assert manifest["config"]["attention_at"] == 4  # digits at 8 px: inner maps of side 4
    assert manifest["provenance"]["hyperparameters"]["lr_d"] == 4e-4
    (image,) = generate(api, model=f"digits-sagan:{version}", seed=1)
    assert image.shape == (8, 8)


def test_infogan_trains_names_its_codes_and_generate_sets_them(api):
    tiny = {"latent_dim": 8, "base_features": 8, "batch_size": 16, "categorical_codes": [4], "continuous_codes": 1}
    job = train(api, "infogan", "digits-info", tiny, steps=6)
    model = f"digits-info:{job['model']['version']}"
    codes = api.get(f"/models/digits-info/versions/{job['model']['version']}").json()["signature"]["codes"]
    assert [c["name"] for c in codes] == ["category", "continuous_0"] and codes[0]["size"] == 4
    (zero,) = generate(api, model=model, seed=5, codes={"category": 0, "continuous_0": 0.0})
    (three,) = generate(api, model=model, seed=5, codes={"category": 3, "continuous_0": 0.0})
    (drawn,) = generate(api, model=model, seed=5)
    assert not np.array_equal(zero, three)  # the code is an input that reaches the image
    assert np.array_equal(drawn, generate(api, model=model, seed=5)[0])  # unset codes are fixed by the seed
    for codes_body, field in (({"colour": 1}, "codes.colour"), ({"category": 4}, "codes.category"),
                              ({"category": 1.5}, "codes.category"), ({"continuous_0": 9}, "codes.continuous_0")):
        answer = api.post("/generate", json={"model": model, "seed": 1, "codes": codes_body})
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field, answer.text
    answer = api.post("/generate", json={"model": "mnist-cdcgan", "seed": 1, "codes": {"category": 1}})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "codes"
