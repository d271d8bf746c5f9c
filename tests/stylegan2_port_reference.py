"""The generator of rosinality/stylegan2-pytorch (model.py Generator) for tests: random g_ema weights
under the port's parameter names and shapes, and its forward pass written from the raw tensors with
torch.nn.functional only (its fused per-sample-weight convolutions, upfirdn2d by zero insertion),
independent of GANForge's modules."""

import math

import torch
import torch.nn.functional as F

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
