"""Translators without the service: network shapes, U-Net sizes, export parity in both
directions, and the worker's pure steps (channels, fit, reflect padding and crop, alpha)."""

import numpy as np
import pytest
import torch
from translate_models import tiny_result

from models.architectures import build
from models.inference.imaging import DecodedImage
from models.inference.translate import (
    convert_channels,
    fit_size,
    pad_reflect,
    padded_side,
    translate_pixels,
    with_alpha,
)
from models.manifest import Provenance
from models.pix2pix import (
    PatchGANDiscriminator,
    patchgan_receptive_field,
    unet_for_size,
)
from models.store import ModelStore
from models.translator_export import check_translator_parity, register_translator
from training.families.cyclegan import CycleGANHyperparameters
from training.families.pix2pix import Pix2PixHyperparameters
from training.trainers.schedule import learning_rate_factor


@pytest.mark.parametrize("name,side", [("unet_32", 32), ("unet_64", 64), ("unet_128", 128), ("unet_256", 256)])
def test_unet_variants_keep_the_size_and_need_their_multiple(name, side):
    generator = build(name, channels_in=1, channels_out=3, ngf=4).eval()
    with torch.no_grad():
        assert generator(torch.zeros(2, 1, side, 2 * side)).shape == (2, 3, side, 2 * side)
    assert generator.size_multiple == side
    assert unet_for_size(side) == name


def test_unet_256_is_the_paper_network_with_three_dropout_layers():
    generator = build("unet_256")
    assert sum(isinstance(m, torch.nn.Dropout) for m in generator.modules()) == 3
    assert sum(isinstance(m, torch.nn.Dropout) for m in build("unet_32").modules()) == 0
    assert 54e6 < sum(p.numel() for p in generator.parameters()) < 55e6  # junyanz's unet_256: 54.4 M


def test_dropout_is_off_in_eval_mode_so_the_answer_is_deterministic():
    generator = build("unet_256", channels_in=1, channels_out=1, ngf=4).eval()
    image = torch.rand(1, 1, 256, 256) * 2 - 1
    with torch.no_grad():
        assert torch.equal(generator(image), generator(image))


def test_patchgan_sees_70x70_patches_with_three_layers():
    assert patchgan_receptive_field(3) == 70 and patchgan_receptive_field(2) == 34 and patchgan_receptive_field(1) == 16
    d = PatchGANDiscriminator(channels=6, ndf=8, n_layers=3)
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)  # the paper's 30x30 map of patch logits


@pytest.mark.parametrize("name,blocks", [("resnet_6blocks", 6), ("resnet_9blocks", 9)])
def test_resnet_generators_use_instance_norm_and_reflection_padding(name, blocks):
    generator = build(name, channels_in=3, channels_out=1, ngf=8)
    kinds = {type(m).__name__ for m in generator.modules()}
    assert {"InstanceNorm2d", "ReflectionPad2d"} <= kinds and "BatchNorm2d" not in kinds
    assert sum(type(m).__name__ == "ResnetBlock" for m in generator.modules()) == blocks
    with torch.no_grad():
        assert generator(torch.zeros(1, 3, 20, 36)).shape == (1, 1, 20, 36)


def test_canonical_defaults():
    p, c = Pix2PixHyperparameters(), CycleGANHyperparameters()
    assert (p.lr, p.beta1, p.lambda_l1, p.gan_loss, p.n_layers_d, p.norm) == (2e-4, 0.5, 100, "vanilla", 3, "batch")
    assert (c.lambda_cycle, c.lambda_identity, c.pool_size, c.gan_loss, c.generator, c.norm) == (
        10, 0.5, 50, "lsgan", "resnet_9blocks", "instance")
    assert [learning_rate_factor(s, 100, 0.5) for s in (0, 49, 50, 75, 99)] == [1, 1, 1, 0.5, pytest.approx(0.02)]


@pytest.mark.parametrize("family,channels", [("pix2pix", (1, 3)), ("cyclegan", (3, 1))])
def test_export_parity_in_every_direction_at_other_sizes(tmp_path, family, channels):
    result = tiny_result(family, *channels)
    manifest = register_translator(result, ModelStore(tmp_path), f"tiny-{family}",
                                   Provenance(trainer=family, dataset="random", seed=0, steps=0))
    assert manifest.task == "translate" and manifest.parity_max_abs_diff <= 1e-4
    folder = ModelStore(tmp_path).onnx_path(manifest).parent
    assert set(manifest.signature.directions) == ({"a2b"} if family == "pix2pix" else {"a2b", "b2a"})
    for direction, spec in manifest.signature.directions.items():
        # Sizes other than the ones the export checked: the sides are really dynamic.
        worst = check_translator_parity(result.generators[direction], folder / spec.onnx_file,
                                        channels_in=spec.channels_in, size_multiple=manifest.signature.size_multiple,
                                        image_size=96)
        assert worst <= 1e-4


def test_reflect_padding_and_crop_round_trip_on_odd_sizes():
    rng = np.random.default_rng(0)
    for height, width, multiple in ((17, 29, 4), (1, 1, 32), (33, 5, 32), (45, 64, 32)):
        batch = rng.uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
        padded, (rows, cols) = pad_reflect(batch, multiple)
        assert padded.shape[2] % multiple == 0 and padded.shape[3] % multiple == 0
        assert padded.shape[2] >= max(height, 16) and padded.shape[2] - padded_side(height, multiple) == 0
        assert np.array_equal(padded[:, :, rows, cols], batch)


def test_identity_network_returns_the_input_at_its_size_with_alpha():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (23, 41, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (23, 41), dtype=np.uint8)
    out, out_alpha, how = translate_pixels(lambda x: x, DecodedImage(pixels, alpha), channels_in=3,
                                           size_multiple=32, image_size=32, resize="none")
    assert how["network_size"] == (32, 32) and how["tiles"] == 4 and out.shape == (23, 41, 3)  # a U-Net: in tiles
    assert np.abs(out.astype(int) - pixels).max() <= 1 and np.array_equal(out_alpha, alpha)
    rgba = with_alpha(out, out_alpha, "png")
    assert rgba.shape == (23, 41, 4) and np.array_equal(rgba[..., 3], alpha)
    assert with_alpha(out, out_alpha, "jpeg").shape == (23, 41, 3)


def test_fit_scales_the_longer_side_to_the_training_size_and_alpha_with_it():
    pixels = np.full((100, 50, 1), 200, np.uint8)
    alpha = np.full((100, 50), 255, np.uint8)
    out, out_alpha, how = translate_pixels(lambda x: x, DecodedImage(pixels, alpha), channels_in=1,
                                           size_multiple=32, image_size=32, resize="fit")
    assert fit_size(50, 100, 32) == (16, 32) and out.shape == (32, 16) and out_alpha.shape == (32, 16)
    assert how["network_size"] == (32, 32) and abs(int(out.mean()) - 200) <= 1


def test_channels_convert_between_gray_and_rgb():
    gray = np.full((2, 2, 1), 0.5, np.float32)
    assert convert_channels(gray, 3).shape == (2, 2, 3)
    rgb = np.zeros((2, 2, 3), np.float32)
    rgb[..., 0] = 1.0
    assert convert_channels(rgb, 1)[0, 0, 0] == pytest.approx(0.299)
    sixteen = DecodedImage(np.full((4, 4, 1), 65535, np.uint16), None)
    out, _, _ = translate_pixels(lambda x: np.repeat(x, 3, axis=1), sixteen, channels_in=1, size_multiple=4,
                                 image_size=32, resize="none")
    assert out.shape == (4, 4, 3) and out.min() == 255
