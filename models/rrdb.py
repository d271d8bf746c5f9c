"""RRDBNet: the ESRGAN generator (Wang et al. 2018), upsampling by sub-pixel convolution.

Residual-in-residual dense blocks: each RDB is five densely connected convolutions whose
output is scaled by 0.2 before it joins the identity, and each RRDB is three RDBs whose sum
is scaled by 0.2 again (the paper's residual scaling: it keeps a deep stack without batch norm
trainable). ESRGAN upsamples by nearest interpolation + conv; here it is sub-pixel convolution
(`models.layers.pixel_shuffle_upsampler`), x2 or x4, so both generators share one upsampler.
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


@register("rrdbnet")
class RRDBNet(nn.Module):
    """float [N, C, H, W] in [0, 1] -> [N, C, scale*H, scale*W]. ESRGAN: features 64, blocks 23, growth 32."""

    def __init__(self, channels: int = 3, features: int = 64, blocks: int = 23, growth: int = 32, scale: int = 4,
                 upsampler: str = "progressive", global_residual: bool = False):
        super().__init__()
        check_scale(scale)
        self.scale = scale
        self.global_residual = global_residual
        self.conv_first = nn.Conv2d(channels, features, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        self.upsample = pixel_shuffle_upsampler(features, channels, scale, upsampler)
        scaled_kaiming_(self.upsample, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.conv_first(x)
        out = self.upsample(first + self.conv_body(self.body(first)))
        if self.global_residual:
            out = plus_bilinear(out, x, self.scale)
        return out
