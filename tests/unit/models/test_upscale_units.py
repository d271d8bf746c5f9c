"""Super-resolution pieces on tiny tensors: networks, export parity, tiling without seams, the
alpha / gray / 16-bit paths, the request schema, and the trainer's determinism and resume."""

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from models.architectures import build
from models.inference.imaging import DecodedImage
from models.inference.sessions import open_session
from models.inference.upscale import (
    onnx_runner,
    to_format,
    upscale_image,
    upscale_pixels,
)
from models.manifest import UpscalerSignature
from models.upscaler_export import export_upscaler
from service.api.schemas.upscale import UpscaleRequest
from training.data.super_resolution import HELD_OUT, TRAINING
from training.trainers.super_resolution import SRConfig, bicubic_downscale, train_sr

TINY = {"features": 8, "blocks": 2}


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("name, config", [
    ("msrresnet", {"upsampler": "progressive"}),
    ("msrresnet", {"upsampler": "direct"}),
    ("rrdbnet", {"growth": 4, "blocks": 1}),
])
def test_generators_upscale_by_their_factor(name, config, scale):
    generator = build(name, **{**TINY, **config}, scale=scale)
    assert generator(torch.rand(2, 3, 11, 7)).shape == (2, 3, 11 * scale, 7 * scale)


def test_scales_other_than_two_and_four_are_refused():
    with pytest.raises(ValueError, match="scale 3"):
        build("msrresnet", scale=3)


def test_an_untrained_msrresnet_starts_near_bilinear():
    x = torch.rand(1, 3, 16, 16)
    bilinear = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)
    assert (build("msrresnet", **TINY)(x) - bilinear).abs().mean() < 0.05


def test_discriminator_gives_a_logit_per_image_and_its_features():
    discriminator = build("vgg_sn_discriminator", features=8, stages=3)
    logits, taps = discriminator(torch.rand(3, 3, 32, 32), features=True)
    assert logits.shape == (3,) and len(taps) == 3
    assert any("weight_orig" in name for name, _ in discriminator.named_parameters())  # spectral norm is on


@pytest.fixture(scope="module")
def tiny_x4(tmp_path_factory):
    """A tiny x4 network exported to ONNX: (session runner, signature, parity)."""
    torch.manual_seed(0)
    generator = build("msrresnet", **TINY, scale=4, upsampler="direct")
    signature = UpscalerSignature(scale=4, channels=3, image_size=16)
    path = tmp_path_factory.mktemp("sr") / "model.onnx"
    parity = export_upscaler(generator, signature, path)
    return onnx_runner(open_session(path), signature), signature, parity


def test_export_has_dynamic_batch_and_sides_and_matches_pytorch(tiny_x4):
    run, _, parity = tiny_x4
    assert parity < 1e-4
    for shape in [(1, 3, 9, 33), (4, 3, 20, 20)]:
        out = run(np.random.default_rng(0).random(shape, dtype=np.float32))
        assert out.shape == (shape[0], 3, shape[2] * 4, shape[3] * 4)
        assert out.min() >= 0 and out.max() <= 1  # clipped inside the graph


def photo(height=150, width=170, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3))
    smooth = np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:height, :width]
    return np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)


def test_tiled_output_matches_untiled_on_an_image_bigger_than_a_tile(tiny_x4):
    run, _, _ = tiny_x4
    image = photo()
    whole, tiles_whole = upscale_pixels(run, image, 4, model_channels=3, tile=0)
    tiled, tiles = upscale_pixels(run, image, 4, model_channels=3, tile=64, overlap=16)
    assert tiles_whole == 1 and tiles == 9 and whole.shape == (600, 680, 3)
    assert np.abs(whole.astype(int) - tiled).max() <= 1  # no seams: float rounding at most
    # Without context the tile borders show: the overlap is what removes the seams.
    seamed, _ = upscale_pixels(run, image, 4, model_channels=3, tile=64, overlap=0)
    assert np.abs(whole.astype(int) - seamed).max() > 4


def test_outscale_resamples_after_the_network(tiny_x4):
    run, signature, _ = tiny_x4
    out, figures = upscale_image(run, DecodedImage(photo(40, 30), None), signature, outscale=2.5, tile=32)
    assert out.shape == (100, 75, 3) and figures["output_size"] == [75, 100]


def test_alpha_is_upscaled_on_its_own(tiny_x4):
    run, signature, _ = tiny_x4
    alpha = np.zeros((20, 24), np.uint8)
    alpha[:, 12:] = 255
    out, _ = upscale_image(run, DecodedImage(photo(20, 24), alpha), signature)
    assert out.shape == (80, 96, 4) and out.dtype == np.uint8
    assert out[:, :40, 3].max() <= 5 and out[:, 56:, 3].min() >= 250  # bicubic: a soft edge only at the border
    assert to_format(out, "jpeg").shape == (80, 96, 3)  # JPEG has no alpha


def test_gray_goes_through_an_rgb_network_and_comes_back_gray(tiny_x4):
    run, signature, _ = tiny_x4
    gray = photo(30, 20)[..., :1]
    out, _ = upscale_image(run, DecodedImage(gray, None), signature)
    assert out.shape == (120, 80) and out.dtype == np.uint8
    rgb, _ = upscale_image(run, DecodedImage(np.repeat(gray, 3, axis=2), None), signature)
    assert np.abs(rgb.mean(axis=2) - out).max() <= 1  # the mean of the channels of the same image


def test_sixteen_bit_gray_stays_sixteen_bit(tiny_x4):
    run, signature, _ = tiny_x4
    gray = (photo(30, 20)[..., :1].astype(np.uint16) * 257 + 100)
    out, _ = upscale_image(run, DecodedImage(gray, None), signature, outscale=3)
    assert out.shape == (90, 60) and out.dtype == np.uint16
    assert len(np.unique(out)) > 256  # not 8-bit values in a 16-bit box
    eight = to_format(out, "webp")
    assert eight.dtype == np.uint8 and np.abs(eight.astype(int) - out / 257).max() <= 1


def test_request_schema_refuses_bad_fields():
    assert UpscaleRequest(model="sr-x4").tile == 256
    for bad in [{"tile": 8}, {"tile": -1}, {"outscale": 0.5}, {"outscale": 32}, {"format": "gif"}, {"nope": 1}]:
        with pytest.raises(ValidationError):
            UpscaleRequest(model="sr-x4", **bad)
    assert UpscaleRequest(model="sr-x4", tile=0).tile == 0


def test_held_out_photos_are_never_training_photos():
    assert HELD_OUT and not set(HELD_OUT) & set(TRAINING)


def test_bicubic_downscale_is_quantised_to_eight_bits():
    lr = bicubic_downscale(torch.rand(1, 3, 32, 32), 4)
    assert lr.shape == (1, 3, 8, 8) and torch.equal(lr, (lr * 255).round() / 255)


def sr_config(**overrides) -> SRConfig:
    return SRConfig(**{**TINY, "scale": 2, "patch_size": 8, "batch_size": 2, "steps": 6, "pretrain_fraction": 0.5,
                       "d_features": 4, "ema_decay": 0.9, **overrides})


def test_trainer_runs_both_phases_and_is_deterministic_and_resumable(tmp_path):
    images = [photo(40, 48, seed=i) for i in range(3)]
    seen: list[dict] = []
    first = train_sr(sr_config(), images, progress_fn=lambda s, t, losses, r: seen.append(losses))
    assert set(seen[0]) == {"l1"} and {"l1", "feature", "g_gan", "d"} <= set(seen[-1])
    again = train_sr(sr_config(), images)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(first.generator(x), again.generator(x))
    # stopped after 3 steps (a checkpoint), resumed to 6: the same weights as one run
    stopped = train_sr(sr_config(checkpoint_every=3), images, checkpoint_dir=tmp_path,
                       abort_fn=lambda: len(list(tmp_path.glob("*.json"))) > 0)
    assert stopped.aborted and stopped.step == 3
    resumed = train_sr(sr_config(checkpoint_every=3), images, checkpoint_dir=tmp_path)
    assert resumed.step == 6 and torch.allclose(resumed.generator(x), first.generator(x), atol=1e-6)
    assert first.signature().scale == 2 and first.signature().image_size == 8


def test_esrgan_family_config_trains_an_rrdbnet():
    from training.families.esrgan import ESRGANHyperparameters

    hyper = ESRGANHyperparameters(features=8, blocks=1, growth=4, scale=2, patch_size=8, batch_size=2, d_features=4,
                                  pretrain_fraction=0.5)
    config = SRConfig(**hyper.model_dump(), generator="rrdbnet", steps=2)
    result = train_sr(config, [photo(32, 32)])
    assert result.architecture == "rrdbnet" and result.architecture_config["growth"] == 4
    assert result.architecture_config["global_residual"] is False  # ESRGAN has none


def test_vgg_feature_loss_runs_only_with_a_weights_file(tmp_path):
    from safetensors.torch import save_file

    from training.trainers.super_resolution import VGGFeatureLoss

    with pytest.raises(ValidationError, match="vgg_weights_path"):
        sr_config(feature_loss="vgg")
    # A stand-in file with torchvision's VGG19 key names (real ImageNet weights can't be fetched here).
    torch.manual_seed(0)
    shapes = VGGFeatureLoss.__new__(VGGFeatureLoss)._LAYOUT
    tensors, width, index = {}, 3, 0
    for item in shapes:
        if item == "M":
            index += 1
            continue
        tensors[f"features.{index}.weight"] = torch.randn(item, width, 3, 3) * 0.05
        tensors[f"features.{index}.bias"] = torch.zeros(item)
        width, index = item, index + 2
    path = tmp_path / "vgg19.safetensors"
    save_file(tensors, str(path))
    result = train_sr(sr_config(feature_loss="vgg", vgg_weights_path=str(path), steps=2), [photo(40, 40)])
    assert result.feature_loss == "vgg" and result.step == 2
