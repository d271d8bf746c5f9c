"""stylegan2-pytorch: random weights under the port's g_ema names (narrow widths), saved as its
scripts save them, converted, and equal to the port's network computed step by step here with
torch.nn.functional (its fused per-sample-weight convolutions and upfirdn2d by zero insertion);
then exported to ONNX and served with truncation, as the bundled style model is."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from models.checkpoints import convert
from models.checkpoints.base import Checkpoint, CheckpointRejected
from models.checkpoints.loading import load_checkpoint
from models.inference.latents import sample_latents
from models.inference.sessions import open_session
from models.inference.style import StyleRequest, style_images
from models.style_export import export_style_generator

SQRT2 = math.sqrt(2.0)
LR_MLP = 0.01


def port_kernel(gain: float = 4.0) -> torch.Tensor:
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = taps[None, :] * taps[:, None]
    return kernel / kernel.sum() * gain


def port_state(size: int = 16, style_dim: int = 16, n_mlp: int = 2, widths=(8, 8, 6), seed: int = 0):
    """g_ema.state_dict() of the port's Generator, random, every parameter away from its initial value."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0, shift=0.0):
        return torch.randn(*shape, generator=g) * scale + shift

    state = {}
    for i in range(1, n_mlp + 1):
        state[f"style.{i}.weight"] = randn(style_dim, style_dim, scale=1 / LR_MLP)
        state[f"style.{i}.bias"] = randn(style_dim, scale=10.0)  # times lr_mul: 0.1

    def modulated(prefix, out_c, in_c, k, upsample=False):
        state[f"{prefix}.weight"] = randn(1, out_c, in_c, k, k)
        state[f"{prefix}.modulation.weight"] = randn(in_c, style_dim)
        state[f"{prefix}.modulation.bias"] = randn(in_c, scale=0.2, shift=1.0)
        if upsample:
            state[f"{prefix}.blur.kernel"] = port_kernel()

    def styled(prefix, out_c, in_c, upsample=False):
        modulated(f"{prefix}.conv", out_c, in_c, 3, upsample)
        state[f"{prefix}.noise.weight"] = randn(1, scale=0.5)
        state[f"{prefix}.activate.bias"] = randn(out_c, scale=0.2)

    def to_rgb(prefix, in_c, upsample=True):
        modulated(f"{prefix}.conv", 3, in_c, 1)
        state[f"{prefix}.bias"] = randn(1, 3, 1, 1, scale=0.2)
        if upsample:
            state[f"{prefix}.upsample.kernel"] = port_kernel()

    state["input.input"] = randn(1, widths[0], 4, 4)
    styled("conv1", widths[0], widths[0])
    to_rgb("to_rgb1", widths[0], upsample=False)
    for block, (previous, width) in enumerate(zip(widths, widths[1:])):
        styled(f"convs.{2 * block}", width, previous, upsample=True)
        styled(f"convs.{2 * block + 1}", width, width)
        to_rgb(f"to_rgbs.{block}", width)
    for layer in range(2 * int(math.log2(size)) - 3):
        resolution = 2 ** ((layer + 5) // 2)
        state[f"noises.noise_{layer}"] = randn(1, 1, resolution, resolution)
    return state


# --- the reference: the port's Generator.forward, written out on the raw state dict ---------------

def upfirdn(x, kernel, up, pad):
    """The port's upfirdn2d: zeros after each pixel, pad, a true convolution with the filter."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(n, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    return F.conv2d(x, kernel.flip(0, 1)[None, None].repeat(c, 1, 1, 1), groups=c)


def reference_modulated(state, prefix, x, w, demodulate=True, upsample=False):
    """Per-sample weights (style times weight, demodulated), run as one grouped convolution."""
    _, out_c, in_c, k, _ = state[f"{prefix}.weight"].shape
    n, _, h, width = x.shape
    style = F.linear(w, state[f"{prefix}.modulation.weight"] / math.sqrt(w.shape[1]), state[f"{prefix}.modulation.bias"])
    weight = state[f"{prefix}.weight"] / math.sqrt(in_c * k * k) * style[:, None, :, None, None]
    if demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)[:, :, None, None, None]
    if upsample:
        weight = weight.transpose(1, 2).reshape(n * in_c, out_c, k, k)
        out = F.conv_transpose2d(x.reshape(1, n * in_c, h, width), weight, stride=2, groups=n)
        return upfirdn(out.reshape(n, out_c, *out.shape[2:]), state[f"{prefix}.blur.kernel"], 1, (1, 1))
    out = F.conv2d(x.reshape(1, n * in_c, h, width), weight.reshape(n * out_c, in_c, k, k), padding=k // 2, groups=n)
    return out.reshape(n, out_c, h, width)


def reference_styled(state, prefix, x, w, noise, upsample=False):
    x = reference_modulated(state, f"{prefix}.conv", x, w, upsample=upsample) + state[f"{prefix}.noise.weight"] * noise
    return F.leaky_relu(x + state[f"{prefix}.activate.bias"][None, :, None, None], 0.2) * SQRT2


def reference_to_rgb(state, prefix, x, w, skip=None):
    rgb = reference_modulated(state, f"{prefix}.conv", x, w, demodulate=False) + state[f"{prefix}.bias"]
    return rgb if skip is None else rgb + upfirdn(skip, state[f"{prefix}.upsample.kernel"], 2, (2, 1))


def reference_mapping(state, z):
    x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)
    i = 1
    while f"style.{i}.weight" in state:
        weight = state[f"style.{i}.weight"] * LR_MLP / math.sqrt(x.shape[1])
        x = F.leaky_relu(F.linear(x, weight) + state[f"style.{i}.bias"] * LR_MLP, 0.2) * SQRT2
        i += 1
    return x


@torch.no_grad()
def reference_images(state, z, *, psi=1.0, w_avg=None, noise=None):
    """Generator([z], truncation=psi, truncation_latent=w_avg, noise=noise, randomize_noise=False)."""
    w = reference_mapping(state, z)
    if psi != 1.0:
        w = w_avg + psi * (w - w_avg)
    layers = sum(1 for k in state if k.startswith("noises."))
    noise = noise or [state[f"noises.noise_{i}"] for i in range(layers)]
    x = state["input.input"].repeat(z.shape[0], 1, 1, 1)
    x = reference_styled(state, "conv1", x, w, noise[0])
    skip = reference_to_rgb(state, "to_rgb1", x, w)
    for block in range((layers - 1) // 2):
        x = reference_styled(state, f"convs.{2 * block}", x, w, noise[2 * block + 1], upsample=True)
        x = reference_styled(state, f"convs.{2 * block + 1}", x, w, noise[2 * block + 2])
        skip = reference_to_rgb(state, f"to_rgbs.{block}", x, w, skip)
    return skip


# --- tests ----------------------------------------------------------------------------------------

def saved(tmp_path, content, name="checkpoint.pt"):
    path = tmp_path / name
    torch.save(content, path)
    return load_checkpoint(path)


@pytest.fixture(scope="module")
def port():
    state = port_state()
    latent_avg = torch.randn(16, generator=torch.Generator().manual_seed(7))
    return state, latent_avg


@pytest.fixture(scope="module")
def converted(port, tmp_path_factory):
    state, latent_avg = port
    checkpoint = saved(tmp_path_factory.mktemp("port"), {"g_ema": state, "latent_avg": latent_avg, "g": state,
                                                         "d": {"convs.0.0.weight": torch.zeros(1)}})
    return convert("stylegan2-pytorch", [checkpoint], {})


def test_shapes_decide_every_size_and_the_generator_equals_the_port(port, converted):
    state, latent_avg = port
    assert converted.task == "generate" and converted.style and converted.signature is None
    assert converted.architecture == "stylegan2_port_generator"
    assert converted.config == {"size": 16, "style_dim": 16, "n_mlp": 2, "widths": [8, 8, 6], "channels": 3,
                                "start": 4, "lr_mlp": 0.01}
    generator = converted.networks["generator"]
    assert torch.equal(generator.w_avg, latent_avg)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    noise = [torch.randn(3, 1, r, r, generator=torch.Generator().manual_seed(r)) for r in (4, 8, 8, 16, 16)]
    with torch.no_grad():
        for given in (None, noise):  # the stored maps, then maps given per image
            ours = generator(z, noise=given)
            expected = reference_images(state, z, noise=given)
            assert ours.shape == (3, 3, 16, 16)
            assert (ours - expected).abs().max() <= 1e-4
        # noise matters, so the comparison above covers it
        assert (generator(z) - generator(z, noise=noise)).abs().max() > 1e-2


def test_truncation_pulls_towards_latent_avg(port, converted):
    state, latent_avg = port
    generator = converted.networks["generator"]
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        half = generator(z, psi=0.5)
        assert (half - reference_images(state, z, psi=0.5, w_avg=latent_avg)).abs().max() <= 1e-4
        centre = generator(z, psi=0.0)
        assert (centre[0] - centre[1]).abs().max() < 1e-5  # every z becomes latent_avg
        assert (half - generator(z)).abs().max() > 1e-3


def test_without_latent_avg_w_avg_is_the_seeded_mean_of_mapped_samples(port, tmp_path):
    state, _ = port
    checkpoint = saved(tmp_path, {"g_ema": state})
    first = convert("stylegan2-pytorch", [checkpoint], {}).networks["generator"].w_avg
    again = convert("stylegan2-pytorch", [checkpoint], {}).networks["generator"].w_avg
    assert torch.equal(first, again)  # seeded: one file, one w_avg
    z = torch.randn(10_000, 16, generator=torch.Generator().manual_seed(0))
    assert (first - reference_mapping(state, z).mean(dim=0)).abs().max() <= 1e-5


def test_a_bare_g_ema_state_dict_in_safetensors_converts_too(port, tmp_path):
    state, latent_avg = port
    path = tmp_path / "g_ema.safetensors"
    save_file({**state, "latent_avg": latent_avg}, str(path))
    conversion = convert("stylegan2-pytorch", [load_checkpoint(path)], {})
    assert torch.equal(conversion.networks["generator"].w_avg, latent_avg)


def test_a_256_px_port_exports_and_serves_seeds_and_truncation_equal_to_the_port(tmp_path):
    """One export (the slow part): 256 px as the port's real models, at narrow widths."""
    state = port_state(size=256, style_dim=8, n_mlp=1, widths=(8, 8, 8, 8, 4, 4, 4))
    latent_avg = torch.randn(8, generator=torch.Generator().manual_seed(7))
    conversion = convert("stylegan2-pytorch", [saved(tmp_path, {"g_ema": state, "latent_avg": latent_avg})], {})
    assert conversion.config["size"] == 256 and conversion.config["widths"] == [8, 8, 8, 8, 4, 4, 4]
    signature, synthesis, mapping, worst = export_style_generator(conversion.networks["generator"], tmp_path)
    assert worst <= 1e-4
    style = signature.style
    assert (signature.image_size, signature.channels, signature.latent_dim, signature.inputs) == (256, 3, 8, ["z"])
    assert style.num_ws == 14 and style.layer_resolutions == [4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 256]
    assert style.noise_shapes[-1] == [1, 256, 256]
    assert np.allclose(style.w_avg, latent_avg.numpy(), atol=1e-6)
    sessions = [open_session(p) for p in (mapping, synthesis)]

    def served(**request):
        return style_images(lambda feeds: sessions[0].run(None, feeds)[0],
                            lambda feeds: sessions[1].run(None, feeds)[0], signature, StyleRequest(n=2, **request))

    z = torch.from_numpy(sample_latents(5, 2, 8))  # the latents /generate draws for seed 5
    for psi in (1.0, 0.6):
        expected = reference_images(state, z, psi=psi, w_avg=latent_avg).numpy()
        assert np.abs(served(seed=5, psi=psi) - expected).max() <= 1e-4
    assert np.abs(served(seed=5, psi=0.6) - served(seed=5)).max() > 1e-3


def test_the_port_table_widths_are_named_in_the_notes():
    from models.checkpoints.stylegan2_pytorch import channel_multiplier
    assert channel_multiplier({"size": 256, "start": 4, "widths": [512] * 4 + [256, 128, 64]}) == 1
    assert channel_multiplier({"size": 256, "start": 4, "widths": [512] * 5 + [256, 128]}) == 2
    assert channel_multiplier({"size": 16, "start": 4, "widths": [512] * 3}) is None


@pytest.mark.parametrize("change, named", [
    (lambda s: s.pop("convs.1.noise.weight"), "missing tensors: convs.1.noise.weight"),
    (lambda s: s.update({"to_rgbs.0.bias": torch.zeros(3)}), "to_rgbs.0.bias (3,) (expected (1, 3, 1, 1))"),
    (lambda s: s.update({"convs.9.conv.weight": torch.zeros(1)}), "unexpected tensors: convs.9.conv.weight"),
    (lambda s: s.update({"noises.noise_1": torch.zeros(1, 1, 4, 4)}), "noises.noise_1 (1, 1, 4, 4)"),
    (lambda s: s.pop("input.input"), "missing tensors: input.input"),
])
def test_a_damaged_g_ema_is_refused_naming_the_keys(port, change, named):
    state = dict(port[0])
    change(state)
    with pytest.raises(CheckpointRejected, match="stylegan2-pytorch generator") as refused:
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state})], {})
    assert named in str(refused.value)


def test_refusals_of_the_file_and_options(port):
    state, _ = port
    with pytest.raises(CheckpointRejected, match="no 'g_ema' state dict.*entries: g, d"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g": {"a": torch.zeros(1)}, "d": {}})], {})
    with pytest.raises(CheckpointRejected, match=r"latent_avg \(5,\) is not a w of style_dim 16"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state, "latent_avg": torch.zeros(5)})], {})
    with pytest.raises(CheckpointRejected, match="option generator='d'"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state})], {"generator": "d"})
    with pytest.raises(CheckpointRejected, match="option lr_mlp='fast' is not a number"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state})], {"lr_mlp": "fast"})
    with pytest.raises(CheckpointRejected, match="takes one file"):
        convert("stylegan2-pytorch", [Checkpoint("a.pt", {"g_ema": state})] * 2, {})


def test_the_non_ema_generator_can_be_chosen(port):
    state, _ = port
    other = port_state(seed=3)
    conversion = convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state, "g": other})],
                         {"generator": "g"})
    z = torch.randn(1, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ours = conversion.networks["generator"](z)
    assert (ours - reference_images(other, z)).abs().max() <= 1e-4
