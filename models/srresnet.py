"""MSRResNet: the SRGAN generator (Ledig et al. 2017) as BasicSR modified it (Wang et al. 2018).

conv -> `blocks` residual blocks without batch norm (conv, ReLU, conv, + identity) -> sub-pixel
upsampling -> conv(s) back to `channels`, plus a global residual: the input upsampled by
bilinear interpolation is added to the output, so the network only learns the detail that
interpolation misses. On small data that is the difference between learning "an image" and
learning "a correction": it starts at bilinear quality instead of at noise and converges in a
few hundred steps (BasicSR's MSRResNet does the same).

`upsampler`:
- "progressive": x2 stages of conv -> PixelShuffle(2) -> LeakyReLU, then a conv at the output
  resolution (BasicSR's MSRResNet; x2 or x4).
- "direct": one conv to `channels * scale**2` and a single PixelShuffle(scale) (ESPCN, Shi et
  al. 2016). No convolution runs at the output resolution, which makes it about 4x cheaper per
  pixel at x4: the bundled sr-x4 uses it so a 2048x2048 input stays in CPU reach.
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


class ResidualBlockNoBN(nn.Module):
    """x + conv(ReLU(conv(x))): EDSR's block, without batch norm (it hurts SR, Lim et al. 2017)."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv2 = nn.Conv2d(features, features, 3, 1, 1)
        scaled_kaiming_(self, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


@register("msrresnet")
class MSRResNet(nn.Module):
    """float [N, C, H, W] in [0, 1] -> [N, C, scale*H, scale*W] (not clamped; the caller clips)."""

    def __init__(self, channels: int = 3, features: int = 64, blocks: int = 16, scale: int = 4,
                 upsampler: str = "progressive", global_residual: bool = True):
        super().__init__()
        check_scale(scale)
        self.scale = scale
        self.global_residual = global_residual
        self.conv_first = nn.Conv2d(channels, features, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(features) for _ in range(blocks)))
        self.upsample = pixel_shuffle_upsampler(features, channels, scale, upsampler)
        scaled_kaiming_(self.conv_first, 0.1)
        scaled_kaiming_(self.upsample, 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = F.leaky_relu(self.conv_first(x), 0.1)
        out = self.upsample(self.body(features))
        if self.global_residual:
            out = plus_bilinear(out, x, self.scale)
        return out
