"""Fast checks of pure pieces: latents, labels, encoding, the Prefer header, the model registry."""

import asyncio
import io
import json

import numpy as np
import pytest
from PIL import Image

from models.inference.imaging import encode
from models.inference.latents import expand_labels, sample_labels, sample_latents
from models.inference.pixels import to_uint8
from models.manifest import GeneratorSignature, Provenance
from models.store import ModelStore, UnknownModel
from service.api.deps import prefer_wait


def test_latents_are_a_pure_function_of_the_seed():
    np.testing.assert_array_equal(sample_latents(5, 4, 8), sample_latents(5, 4, 8))
    assert not np.array_equal(sample_latents(5, 4, 8), sample_latents(6, 4, 8))
    # the first rows of a bigger request are the same images: n does not reshuffle the noise
    np.testing.assert_array_equal(sample_latents(5, 8, 8)[:4], sample_latents(5, 4, 8))


def test_truncation_clips_every_coordinate():
    z = sample_latents(1, 64, 32, truncation=0.5)
    assert z.min() >= -0.5 and z.max() <= 0.5 and z.dtype == np.float32


def test_labels_expand_and_default_by_seed():
    assert expand_labels([3], 4).tolist() == [3, 3, 3, 3]
    assert expand_labels([1, 2], 2).dtype == np.int64
    assert expand_labels(None, 3) is None
    np.testing.assert_array_equal(sample_labels(9, 50, 10), sample_labels(9, 50, 10))
    assert set(sample_labels(9, 500, 10).tolist()) == set(range(10))


def test_generator_range_maps_to_full_uint8_range():
    images = np.array([[[[-1.0, 0.0, 1.0, 2.0]]]], dtype=np.float32)  # N C H W
    assert to_uint8(images).tolist() == [[[0, 128, 255, 255]]]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_encode_round_trips(fmt):
    pixels = np.random.default_rng(0).integers(0, 255, (28, 28), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(encode(pixels, fmt))))
    assert decoded.shape[:2] == (28, 28)  # WebP has no grayscale mode: it decodes as RGB
    if fmt == "png":
        np.testing.assert_array_equal(decoded, pixels)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("wait=30", 30.0), ("respond-async, wait=2.5", 2.5), ("respond-async", None), ("wait=x", None)],
)
def test_prefer_header(header, seconds):
    assert asyncio.run(prefer_wait(header)) == seconds


def register(store: ModelStore, onnx: bytes, tmp_path) -> int:
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx)
    signature = GeneratorSignature(latent_dim=4, image_size=8, channels=1, inputs=["z"])
    provenance = Provenance(trainer="t", dataset="d", seed=0, steps=1)
    return store.register(
        "toy", path, task="generate", architecture="a", config={}, signature=signature,
        provenance=provenance, parity_max_abs_diff=0.0,
    ).version


def test_registry_numbers_versions_and_moves_latest(tmp_path):
    store = ModelStore(tmp_path / "models")
    assert register(store, b"one", tmp_path) == 1
    assert register(store, b"two", tmp_path) == 2
    assert store.resolve("toy").version == 2 and store.resolve("toy:1").version == 1
    store.set_alias("toy", "stable", 1)
    assert store.resolve("toy:stable").version == 1
    assert store.onnx_path(store.resolve("toy:1")).read_bytes() == b"one"
    for ref in ("toy:3", "toy:nope", "other"):
        with pytest.raises(UnknownModel):
            store.resolve(ref)
    assert json.loads((tmp_path / "models/toy/aliases.json").read_text()) == {"latest": 2, "stable": 1}


def test_seeding_copies_missing_versions_and_keeps_local_aliases(tmp_path):
    zoo, local = ModelStore(tmp_path / "zoo"), ModelStore(tmp_path / "local")
    register(zoo, b"bundled", tmp_path)
    assert local.seed_from(zoo) == ["toy:1"]
    register(local, b"trained", tmp_path)
    assert local.seed_from(zoo) == []
    assert local.resolve("toy").version == 2  # a restart does not roll `latest` back to the zoo's


def test_invalid_model_names_are_refused(tmp_path):
    with pytest.raises(ValueError):
        ModelStore(tmp_path).register(
            "../evil", tmp_path / "x", task="generate", architecture="a", config={},
            signature=GeneratorSignature(latent_dim=1, image_size=1, channels=1, inputs=["z"]),
            provenance=Provenance(trainer="t", dataset="d", seed=0, steps=1), parity_max_abs_diff=0,
        )


@pytest.mark.parametrize(
    ("shape", "dtype", "mode"),
    [((9, 7), np.uint8, "L"), ((9, 7, 2), np.uint8, "LA"), ((9, 7, 3), np.uint8, "RGB"),
     ((9, 7, 4), np.uint8, "RGBA"), ((9, 7), np.uint16, "I;16")],
)
def test_the_direct_png_writer_round_trips_through_pillow(shape, dtype, mode):
    pixels = np.random.default_rng(1).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    image = Image.open(io.BytesIO(encode(pixels, "png")))
    assert image.mode == mode and image.size == (7, 9)
    np.testing.assert_array_equal(np.asarray(image).astype(np.int64), pixels.astype(np.int64))


def test_metrics_merge_one_level_deep_so_concurrent_evaluations_both_land(tmp_path):
    store = ModelStore(tmp_path / "models")
    register(store, b"m", tmp_path)
    store.update_metrics("toy", 1, {"evaluations": {"a/mnist": {"fid": 1.0}}, "note": "x"})
    store.update_metrics("toy", 1, {"evaluations": {"b/mnist": {"fid": 2.0}}, "note": "y"})
    metrics = store.manifest("toy", 1).metrics
    assert metrics["evaluations"] == {"a/mnist": {"fid": 1.0}, "b/mnist": {"fid": 2.0}} and metrics["note"] == "y"


def test_the_documented_request_examples_are_valid_requests():
    from service.api.schemas.generate import GenerateRequest
    from service.api.schemas.train import TrainRequest
    from training.families import FAMILIES

    for schema in (GenerateRequest, TrainRequest):
        for example in schema.model_config["json_schema_extra"]["examples"]:
            request = schema.model_validate(example)
            if schema is TrainRequest:
                FAMILIES[request.architecture].hyperparameters.model_validate(request.hyperparameters)
