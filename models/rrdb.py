"""RRDBNet: the ESRGAN generator (Wang et al. 2018), upsampling by sub-pixel convolution.

Residual-in-residual dense blocks: each RDB is five densely connected convolutions whose
output is scaled by 0.2 before it joins the identity, and each RRDB is three RDBs whose sum
is scaled by 0.2 again (the paper's residual scaling: it keeps a deep stack without batch norm
trainable). ESRGAN upsamples by nearest interpolation + conv; GANForge's own trainings use
sub-pixel convolution (`models.layers.pixel_shuffle_upsampler`), x2 or x4, so both generators share
one upsampler.

`upsampler="nearest"` is ESRGAN's and Real-ESRGAN's own layout, so their published weights fit
(models/checkpoints/realesrgan.py): two nearest x2 + conv + LeakyReLU(0.2) stages, a conv at full
size, a conv to `channels`. It always enlarges x4 inside; Real-ESRGAN makes x2 and x1 networks by
pixel-unshuffling the input first (by 2 and by 4), so conv_first reads channels * 4 or * 16.
"""

import torch
import torch.nn.functional as F
from torch import nn

from models.layers import (
    check_scale,
    pixel_shuffle_upsampler,
    plus_bilinear,
    scaled_kaiming_,
)
from models.registry import register

RESIDUAL_SCALE = 0.2
# ESRGAN's upsampler enlarges x4; a smaller scale folds the input by this factor first.
NEAREST_UNSHUFFLE = {4: 1, 2: 2, 1: 4}


class ResidualDenseBlock(nn.Module):
    def __init__(self, features: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(features + i * growth, growth, 3, 1, 1) for i in range(4))
        self.conv_last = nn.Conv2d(features + 4 * growth, features, 3, 1, 1)
        scaled_kaiming_(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = [x]
        for conv in self.convs:
            seen.append(F.leaky_relu(conv(torch.cat(seen, 1)), 0.2))
        return x + RESIDUAL_SCALE * self.conv_last(torch.cat(seen, 1))


class RRDB(nn.Module):
    def __init__(self, features: int, growth: int):
        super().__init__()
        self.rdbs = nn.Sequential(*(ResidualDenseBlock(features, growth) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.rdbs(x)


class NearestUpsampler(nn.Module):
    """ESRGAN's x4: (nearest x2 -> conv -> LeakyReLU(0.2)) twice, conv_hr -> LeakyReLU(0.2), conv_last.
    The attribute names are ESRGAN's, so its weights map by name."""

    def __init__(self, features: int, out_channels: int):
        super().__init__()
        self.conv_up1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_hr = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_last = nn.Conv2d(features, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv_up1(F.interpolate(x, scale_factor=2, mode="nearest")), 0.2)
        x = F.leaky_relu(self.conv_up2(F.interpolate(x, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(x), 0.2))


def unshuffle_padded(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Pixel-unshuffle by `factor` any H x W: reflect-padded on the bottom and right up to the next
    multiple first, as Real-ESRGAN's inference pads x2 and x1 inputs. Padding by `factor - 1` and
    cropping to a multiple keeps the shapes free of the sides' remainders, so the ONNX graph takes
    any size."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (0, factor - 1, 0, factor - 1), mode="reflect")
    rows, cols = (height + factor - 1) // factor * factor, (width + factor - 1) // factor * factor
    return F.pixel_unshuffle(padded[..., :rows, :cols], factor)


@register("rrdbnet")
class RRDBNet(nn.Module):
    """float [N, C, H, W] in [0, 1] -> [N, C, scale*H, scale*W]. ESRGAN: features 64, blocks 23, growth 32.
    With upsampler "nearest" (ESRGAN's), scale may also be 1."""

    def __init__(self, channels: int = 3, features: int = 64, blocks: int = 23, growth: int = 32, scale: int = 4,
                 upsampler: str = "progressive", global_residual: bool = False):
        super().__init__()
        if upsampler == "nearest":
            if scale not in NEAREST_UNSHUFFLE:
                raise ValueError(f"scale {scale} is not supported by the nearest upsampler; use one of "
                                 f"{tuple(NEAREST_UNSHUFFLE)}")
        else:
            check_scale(scale)
        self.scale = scale
        self.global_residual = global_residual
        self.unshuffle = NEAREST_UNSHUFFLE[scale] if upsampler == "nearest" else 1
        self.conv_first = nn.Conv2d(channels * self.unshuffle ** 2, features, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        if upsampler == "nearest":
            self.upsample = NearestUpsampler(features, channels)
        else:
            self.upsample = pixel_shuffle_upsampler(features, channels, scale, upsampler)
        scaled_kaiming_(self.upsample, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        folded = unshuffle_padded(x, self.unshuffle) if self.unshuffle > 1 else x
        first = self.conv_first(folded)
        out = self.upsample(first + self.conv_body(self.body(first)))
        if self.unshuffle > 1:  # the padding's share of the output goes
            out = out[..., :x.shape[-2] * self.scale, :x.shape[-1] * self.scale]
        if self.global_residual:
            out = plus_bilinear(out, x, self.scale)
        return out
