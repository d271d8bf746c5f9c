"""bench/peers_handler.py, TorchServe's side of `python -m bench.peers` (issue 25, item 4), does the
work GANForge's /generate does for one image: for a seed, the same PNG bytes. Run in this process
against the bench's own ONNX file (bench-dcgan64); no TorchServe needed."""

import json
from types import SimpleNamespace

import pytest

from bench import heavy, peers_handler
from models.inference.imaging import encode
from models.inference.latents import sample_latents
from models.inference.pixels import to_uint8
from models.inference.sessions import CPU, shared_process_threads
from service.core.settings import Settings
from workers.sessions import SessionCache

pytestmark = pytest.mark.slow  # the ONNX export takes a few seconds

SEEDS = [0, 7, 12345, 2**32 - 1]


@pytest.fixture(scope="module")
def model():
    model = heavy.HeavyModel()
    yield model
    model.close()


@pytest.fixture(scope="module")
def settings():
    return Settings()


@pytest.fixture(scope="module")
def ganforge(model, settings):
    """A picture as GANForge's worker makes it (workers/inference.py `generate`, n = 1): the latent
    from the seed, the worker's session cache and batcher, uint8, the configured PNG level."""
    loaded = SessionCache(threads=settings.ort_threads, providers=CPU, max_batch_size=settings.max_batch_size,
                          max_delay_ms=settings.max_batch_delay_ms).get(model.manifest, model.onnx_path)
    signature = model.manifest.signature

    def picture(seed: int) -> bytes:
        images, _ = loaded.run({"z": sample_latents(seed, 1, signature.latent_dim, None)})
        return encode(to_uint8(images)[0], "png", png_compress_level=settings.png_compress_level)

    yield picture
    loaded.close()


@pytest.fixture(scope="module")
def pictures(model, settings):
    signature = model.manifest.signature
    return peers_handler.Pictures(model.onnx_path, latent_dim=signature.latent_dim,
                                  threads=settings.ort_threads or shared_process_threads(),
                                  png_compress_level=settings.png_compress_level,
                                  input_name=signature.inputs[0], output=signature.output)


def test_one_seed_gives_ganforge_s_png_bytes(pictures, ganforge):
    for seed in SEEDS:
        (png,) = pictures([seed])
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert png == ganforge(seed), seed


def test_a_batch_gives_each_seed_its_own_picture(pictures, ganforge):
    assert pictures(SEEDS) == [ganforge(seed) for seed in SEEDS]


def test_handle_answers_torchserve_s_batch(model, settings, ganforge, tmp_path):
    """TorchServe's calls: handle(None, context) once, then a batch of requests (JSON bodies parsed
    or raw); each answer its PNG as image/png, a bad seed a 400 of its own."""
    (tmp_path / "model.onnx").write_bytes(model.onnx_path.read_bytes())  # the archive's extracted copy
    signature = model.manifest.signature
    answered: dict = {}
    context = SimpleNamespace(
        system_properties={"model_dir": str(tmp_path)},
        manifest={"model": {"serializedFile": "model.onnx"}},
        model_yaml_config={"ganforge": {"latent_dim": signature.latent_dim, "threads": settings.ort_threads,
                                        "png_compress_level": settings.png_compress_level,
                                        "input": signature.inputs[0], "output": signature.output}},
        set_response_content_type=lambda index, value: answered.setdefault(index, {}).update(type=value),
        set_response_status=lambda code, phrase, index: answered.setdefault(index, {}).update(status=code),
    )
    peers_handler._pictures = None
    try:
        assert peers_handler.handle(None, context) is None
        batch = [{"body": {"seed": 7}}, {"body": json.dumps({"seed": 12345}).encode()}, {"body": {"seed": -3}},
                 {"data": {"seed": 0}}]
        answers = peers_handler.handle(batch, context)
    finally:
        peers_handler._pictures = None
    assert answers[0] == ganforge(7) and answers[1] == ganforge(12345) and answers[3] == ganforge(0)
    assert [answered[i]["type"] for i in (0, 1, 3)] == ["image/png"] * 3
    assert answered[2] == {"type": "application/json", "status": 400}
    assert "seed" in json.loads(answers[2])["detail"]


def test_a_request_without_a_seed_gets_one_drawn():
    assert 0 <= peers_handler.seed_of({"body": {}}) < 2**32
    assert 0 <= peers_handler.seed_of({"body": b""}) < 2**32
    with pytest.raises(ValueError):
        peers_handler.seed_of({"body": {"seed": 2**32}})
    with pytest.raises(ValueError):
        peers_handler.seed_of({"body": {"seed": True}})
