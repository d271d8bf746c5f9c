"""The image-to-image trainers (pix2pix, CycleGAN, SRGAN, ESRGAN) on the CPU device in bf16 and
fp16: finite losses, a checkpoint that resumes in fp32, an export that passes the ONNX parity
check; and the device-side pieces they use (the history pool, the patch sampler).

An ONNX export costs several seconds against a fraction of one for the tiny runs, so each network
is exported once, after its fp16 run (the one with a loss scaler); both precisions train and
resume, and the exported weights are fp32 host weights either way."""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_translate_trainers import TINY, data

from models.manifest import Provenance
from models.store import ModelStore
from models.translator_export import register_translator
from models.upscaler_export import export_upscaler
from training.trainers.cyclegan import CycleGANConfig, ImagePool, train_cyclegan
from training.trainers.pix2pix import Pix2PixConfig, train_pix2pix
from training.trainers.super_resolution import PatchSampler, SRConfig, train_sr

PRECISIONS = ["bf16", "fp16"]
EXPORTED = "fp16"  # the precision whose run is exported (see the module docstring)
SR_TINY = {"features": 4, "blocks": 1, "scale": 2, "patch_size": 8, "batch_size": 2, "d_features": 4,
           "pretrain_fraction": 0.5, "ema_decay": 0.9}


def photos(count: int = 2) -> list[np.ndarray]:
    return [np.random.default_rng(seed).integers(0, 256, (24, 28, 3), dtype=np.uint8) for seed in range(count)]


def finite(losses: dict[str, float]) -> bool:
    return bool(losses) and all(math.isfinite(value) for value in losses.values())


def provenance(family: str) -> Provenance:
    return Provenance(trainer=family, dataset="random", seed=0, steps=3)


def on_host(module: torch.nn.Module) -> bool:
    return all(p.device.type == "cpu" and p.dtype == torch.float32 for p in module.parameters())


def train_twice(train, config, tmp_path: Path):
    """Two steps in `config`'s precision with a checkpoint each step, then resumed to three in fp32."""
    seen: list[dict[str, float]] = []
    first = train(config, checkpoint_dir=tmp_path / "checkpoints", device="cpu",
                  progress_fn=lambda step, total, losses, rate: seen.append(losses))
    assert first.step == 2 and len(seen) == 2 and all(finite(losses) for losses in seen)
    # precision (like batch_size and compile) may change on resume: another worker, another arithmetic
    resumed = train(config.model_copy(update={"steps": 3, "precision": "fp32"}), checkpoint_dir=tmp_path / "checkpoints",
                    device="cpu")
    assert resumed.step == 3 and not resumed.aborted and finite(resumed.losses)
    return resumed


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_translators_train_in_mixed_precision_resume_in_fp32_and_export(tmp_path, family, precision):
    if family == "pix2pix":
        config = Pix2PixConfig(**TINY, generator="unet_32", steps=2, checkpoint_every=1, precision=precision)
        trainer = train_pix2pix
    else:
        config = CycleGANConfig(**TINY, generator="resnet_6blocks", pool_size=3, steps=2, checkpoint_every=1,
                                precision=precision)
        trainer = train_cyclegan
    result = train_twice(lambda c, **kw: trainer(c, data(0), data(1), **kw), config, tmp_path)
    assert all(on_host(g) and not g.training for g in result.generators.values())
    if precision != EXPORTED:
        return
    manifest = register_translator(result, ModelStore(tmp_path / "models"), f"tiny-{family}", provenance(family))
    assert manifest.parity_max_abs_diff <= 1e-4


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("generator", ["msrresnet", "rrdbnet"])
def test_upscalers_train_in_mixed_precision_resume_in_fp32_and_export(tmp_path, generator, precision):
    extra = {"growth": 4, "global_residual": False} if generator == "rrdbnet" else {}
    config = SRConfig(**SR_TINY, **extra, generator=generator, steps=2, checkpoint_every=1, precision=precision)
    result = train_twice(lambda c, **kw: train_sr(c, photos(), **kw), config, tmp_path)
    assert {"l1", "feature", "g_gan", "d"} <= set(result.losses)  # the GAN phase ran
    assert on_host(result.generator)
    if precision != EXPORTED or generator != "msrresnet":  # rrdbnet's export is msrresnet's path, slower
        return
    signature = result.signature()
    path = tmp_path / "model.onnx"
    parity = export_upscaler(result.generator, signature, path)
    manifest = ModelStore(tmp_path / "models").register(
        "tiny-sr", path, task="upscale", architecture=result.architecture, config=result.architecture_config,
        signature=signature, provenance=provenance(generator), parity_max_abs_diff=parity)
    assert manifest.parity_max_abs_diff < 1e-4


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GANFORGE_COMPILE_TESTS") != "1",
                    reason="a cold torch.compile of these graphs takes minutes on a 2-core CPU; "
                           "set GANFORGE_COMPILE_TESTS=1 to run it")
@pytest.mark.parametrize("family", ["pix2pix", "cyclegan", "srgan"])
def test_image_to_image_trainers_with_compile_still_train(family):
    """torch.compile on the forward passes (SR's spectral-norm discriminator stays eager: its
    in-place power iteration breaks a compiled backward over two calls)."""
    if family == "srgan":
        result = train_sr(SRConfig(**SR_TINY, steps=2, compile=True, precision="bf16"), photos(), device="cpu")
    elif family == "pix2pix":
        result = train_pix2pix(Pix2PixConfig(**TINY, generator="unet_32", steps=2, compile=True, precision="bf16"),
                               data(0), data(1), device="cpu")
    else:
        result = train_cyclegan(CycleGANConfig(**TINY, generator="resnet_6blocks", pool_size=3, steps=2, compile=True,
                                               precision="bf16"), data(0), data(1), device="cpu")
    assert result.step == 2 and finite(result.losses), result.losses


def test_the_pool_resumes_its_fill_level_from_a_checkpoint():
    """How full the pool is lives on the host; a loaded state tells it again."""
    rng = torch.Generator().manual_seed(0)
    pool = ImagePool(3, (1, 2, 2))
    pool.query(torch.ones(2, 1, 2, 2), rng)
    fresh = ImagePool(3, (1, 2, 2))
    fresh.load_state_dict(pool.state_dict())
    assert fresh.filled == 2 and int(fresh.count) == 2
    out = fresh.query(torch.full((2, 1, 2, 2), 5.0), rng)  # one fills the last slot, one may swap
    assert fresh.filled == 3 and int(fresh.count) == 3 and torch.equal(out[0], torch.full((1, 2, 2), 5.0))


def test_patches_are_flipped_and_turned_crops_of_the_images():
    images = [torch.rand(3, 12, 14), torch.rand(3, 20, 10)]
    _, hr = PatchSampler(images, 8, 2, 6, seed=0).batch(5)

    def is_a_view_of_an_image(patch: torch.Tensor) -> bool:
        for image in images:
            _, h, w = image.shape
            for top in range(h - 7):
                for left in range(w - 7):
                    crop = image[:, top:top + 8, left:left + 8]
                    if any(torch.equal(torch.rot90(c, k, (1, 2)), patch) for c in (crop, crop.flip(2)) for k in range(4)):
                        return True
        return False

    assert hr.shape == (6, 3, 8, 8) and all(is_a_view_of_an_image(patch) for patch in hr)
    assert torch.equal(PatchSampler(images, 8, 2, 6, seed=0).batch(5)[1], hr)  # (seed, step) decide a batch
