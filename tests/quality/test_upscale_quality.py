"""The bundled sr-x4 beats bicubic upscaling on photos it never saw in training, and its manifest
says so with the figures this test measures again."""

from pathlib import Path

import pytest

from models.store import ModelStore
from training.data.super_resolution import (
    HELD_OUT,
    TRAINING,
    available,
    held_out_photos,
)
from training.zoo.super_resolution import evaluate

ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo"


@pytest.fixture(scope="module")
def bundled():
    store = ModelStore(ZOO)
    if "sr-x4" not in store.names():
        pytest.fail("models/zoo/sr-x4 is missing: run `python -m training zoo sr-x4 --store models/zoo`")
    manifest = store.resolve("sr-x4")
    return manifest, store.onnx_path(manifest)


def test_held_out_photos_were_not_trained_on(bundled):
    manifest, _ = bundled
    trained_on = manifest.provenance.dataset.split(":", 1)[1].split(",")
    assert set(trained_on) <= set(TRAINING) and not set(trained_on) & set(HELD_OUT)
    assert manifest.metrics["heldout_images"] == list(available(HELD_OUT))


def test_bundled_sr_x4_beats_bicubic_by_half_a_db_on_held_out_photos(bundled):
    manifest, onnx_path = bundled
    assert manifest.task == "upscale" and manifest.signature.scale == 4
    assert onnx_path.stat().st_size < 5 * 2**20
    measured = evaluate(onnx_path, manifest.signature, held_out_photos(), tile=128)
    assert measured["psnr_gain_db"] >= 0.5, measured
    assert measured["heldout_ssim_y"] > measured["bicubic_ssim_y"]
    for key in ("heldout_psnr_y", "bicubic_psnr_y", "heldout_ssim_y", "bicubic_ssim_y"):
        assert measured[key] == pytest.approx(manifest.metrics[key], abs=0.01), key  # the manifest's figures hold


def test_bundled_sr_x4_tiles_without_seams_at_the_default_overlap(bundled):
    import numpy as np

    from models.inference.sessions import open_session
    from models.inference.upscale import onnx_runner, upscale_pixels

    manifest, onnx_path = bundled
    run = onnx_runner(open_session(onnx_path), manifest.signature)
    crop = held_out_photos()["coffee"][:150, :200]
    whole, _ = upscale_pixels(run, crop, 4, model_channels=3, tile=0)
    tiled, tiles = upscale_pixels(run, crop, 4, model_channels=3, tile=64, overlap=16)
    assert tiles == 12 and np.abs(whole.astype(int) - tiled).max() <= 1
