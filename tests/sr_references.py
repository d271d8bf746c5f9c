"""The reference super-resolution networks of BasicSR and Real-ESRGAN, written out plainly for
the import tests: random weights under the projects' published tensor names and shapes, and each
network's forward pass as straightforward functional PyTorch on the raw state dict.

Independent of models/ on purpose: a conversion is right when GANForge's module computes what
these compute, so they must not share its code. Only the helpers at the end, which hand the
tests' checkpoints to the import and measure its answer, call into models/.
"""

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from models.checkpoints.base import Checkpoint
from models.checkpoints.loading import load_checkpoint

ATOL = 1e-4  # how far a converted network may be from its reference, in fp32


def random_conv(state: dict, name: str, out_channels: int, in_channels: int, gen: torch.Generator) -> None:
    """A 3x3 conv's weight and bias, scaled so activations stay of order one through a deep stack."""
    bound = (in_channels * 9) ** -0.5
    state[f"{name}.weight"] = (torch.rand(out_channels, in_channels, 3, 3, generator=gen) * 2 - 1) * bound
    state[f"{name}.bias"] = (torch.rand(out_channels, generator=gen) * 2 - 1) * 0.05


def conv(state: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, state[f"{name}.weight"], state[f"{name}.bias"], padding=1)


# --- RRDBNet (basicsr/archs/rrdbnet_arch.py; Real-ESRGAN's x4plus, x2plus, anime_6B) ----------

RRDB_FOLD = {4: 1, 2: 2, 1: 4}  # scale -> pixel-unshuffle factor of the input


def rrdbnet_state(*, features: int = 8, growth: int = 4, blocks: int = 2, scale: int = 4, channels: int = 3,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    random_conv(state, "conv_first", features, channels * RRDB_FOLD[scale] ** 2, gen)
    for block in range(blocks):
        for rdb in (1, 2, 3):
            for k in range(1, 5):
                random_conv(state, f"body.{block}.rdb{rdb}.conv{k}", growth, features + (k - 1) * growth, gen)
            random_conv(state, f"body.{block}.rdb{rdb}.conv5", features, features + 4 * growth, gen)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        random_conv(state, name, features, features, gen)
    random_conv(state, "conv_last", channels, features, gen)
    return state


def rrdbnet_forward(state: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    """RRDBNet on an input whose sides are multiples of the unshuffle factor."""
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    feat = F.pixel_unshuffle(x, RRDB_FOLD[scale]) if scale != 4 else x
    feat = conv(state, "conv_first", feat)
    trunk = feat
    for block in range(blocks):
        rrdb_in = trunk
        for rdb in (1, 2, 3):
            rdb_in, seen = trunk, [trunk]
            for k in range(1, 5):
                seen.append(lrelu(conv(state, f"body.{block}.rdb{rdb}.conv{k}", torch.cat(seen, 1))))
            trunk = conv(state, f"body.{block}.rdb{rdb}.conv5", torch.cat(seen, 1)) * 0.2 + rdb_in
        trunk = trunk * 0.2 + rrdb_in
    feat = feat + conv(state, "conv_body", trunk)
    feat = lrelu(conv(state, "conv_up1", F.interpolate(feat, scale_factor=2, mode="nearest")))
    feat = lrelu(conv(state, "conv_up2", F.interpolate(feat, scale_factor=2, mode="nearest")))
    return conv(state, "conv_last", lrelu(conv(state, "conv_hr", feat)))


def realesrganer(state: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    """What Real-ESRGAN's inference does around an RRDBNet: reflect-pad x2 / x1 inputs to a multiple
    of 2 / 4 on the bottom and right, run, crop the padding's share off."""
    fold = RRDB_FOLD[scale]
    height, width = x.shape[-2:]
    padded = F.pad(x, (0, -width % fold, 0, -height % fold), mode="reflect")
    return rrdbnet_forward(state, padded, scale)[..., :height * scale, :width * scale]


# --- SRVGGNetCompact (Real-ESRGAN's realesr-general-x4v3, realesr-animevideov3) ---------------

def srvgg_state(*, features: int = 8, convs: int = 3, scale: int = 4, channels: int = 3, prelu: bool = True,
                seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    random_conv(state, "body.0", features, channels, gen)
    for i in range(convs + 1):
        if prelu:
            state[f"body.{2 * i + 1}.weight"] = torch.rand(features, generator=gen) * 0.5
        if i < convs:
            random_conv(state, f"body.{2 * i + 2}", features, features, gen)
    random_conv(state, f"body.{2 * convs + 2}", channels * scale * scale, features, gen)
    return state


def srvgg_forward(state: dict, x: torch.Tensor, scale: int, act_type: str = "prelu") -> torch.Tensor:
    last = max(int(k.split(".")[1]) for k in state)
    out = x
    for index in range(0, last + 1):
        if index % 2 == 0:
            out = conv(state, f"body.{index}", out)
        elif act_type == "prelu":
            out = F.prelu(out, state[f"body.{index}.weight"])
        elif act_type == "relu":
            out = F.relu(out)
        else:
            out = F.leaky_relu(out, 0.1)
    return F.pixel_shuffle(out, scale) + F.interpolate(x, scale_factor=scale, mode="nearest")


# --- MSRResNet (basicsr/archs/srresnet_arch.py) -----------------------------------------------

def msrresnet_state(*, features: int = 8, blocks: int = 2, scale: int = 4, channels: int = 3,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    random_conv(state, "conv_first", features, channels, gen)
    for block in range(blocks):
        random_conv(state, f"body.{block}.conv1", features, features, gen)
        random_conv(state, f"body.{block}.conv2", features, features, gen)
    random_conv(state, "upconv1", features * 4, features, gen)
    if scale == 4:
        random_conv(state, "upconv2", features * 4, features, gen)
    random_conv(state, "conv_hr", features, features, gen)
    random_conv(state, "conv_last", channels, features, gen)
    return state


def msrresnet_forward(state: dict, x: torch.Tensor, scale: int) -> torch.Tensor:
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.")})
    lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
    out = lrelu(conv(state, "conv_first", x))
    for block in range(blocks):
        out = out + conv(state, f"body.{block}.conv2", F.relu(conv(state, f"body.{block}.conv1", out)))
    out = lrelu(F.pixel_shuffle(conv(state, "upconv1", out), 2))
    if scale == 4:
        out = lrelu(F.pixel_shuffle(conv(state, "upconv2", out), 2))
    out = conv(state, "conv_last", lrelu(conv(state, "conv_hr", out)))
    return out + F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


# --- What the import tests do with them ------------------------------------------------------

def image(height: int = 12, width: int = 10, seed: int = 1) -> torch.Tensor:
    return torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(seed))


def saved(tmp_path, content, name: str = "net_g.pth") -> Checkpoint:
    """`content` written as BasicSR and Real-ESRGAN write it (torch.save), or as safetensors when
    `name` says so, and read back by the import's loader."""
    path = tmp_path / name
    if name.endswith(".safetensors"):
        save_file(content, path)
    else:
        torch.save(content, path)
    return load_checkpoint(path)


def max_diff(conversion, reference: torch.Tensor, x: torch.Tensor) -> float:
    """How far the converted generator's answer to `x` is from the reference's."""
    with torch.no_grad():
        return (conversion.networks["generator"](x) - reference).abs().max().item()
