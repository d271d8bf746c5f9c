"""SRVGGNetCompact: Real-ESRGAN's compact super-resolution network (realesr-general-x4v3,
realesr-animevideov3).

A plain VGG-style stack at the input resolution: conv(channels -> features), then `convs` times
(activation, conv(features -> features)), an activation, and a last conv to channels * scale**2
that one PixelShuffle(scale) turns into the enlarged image. The input, enlarged by nearest
interpolation, is added to it, so the stack learns only the correction. No convolution runs at
the output resolution: that is what makes it several times cheaper per pixel than RRDBNet.

`body` keeps Real-ESRGAN's layout (conv, activation, conv, activation, ..., conv in one list), so
its published weights map by name: `body.{even}` are the convs, `body.{odd}.weight` the PReLU
slopes (one per feature).
"""

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import register

ACTIVATIONS = ("prelu", "relu", "leakyrelu")


def activation_layer(kind: str, features: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=features)
    if kind == "relu":
        return nn.ReLU()
    if kind == "leakyrelu":
        return nn.LeakyReLU(0.1)
    raise ValueError(f"unknown activation {kind!r}; known: {', '.join(ACTIVATIONS)}")


@register("srvggnet_compact")
class SRVGGNetCompact(nn.Module):
    """float [N, C, H, W] in [0, 1] -> [N, C, scale*H, scale*W] (not clamped; the caller clips).
    realesr-general-x4v3: features 64, convs 32, scale 4; realesr-animevideov3: features 64, convs 16."""

    def __init__(self, channels: int = 3, features: int = 64, convs: int = 16, scale: int = 4,
                 activation: str = "prelu"):
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale {scale} is not supported; it must be at least 1")
        self.scale = scale
        layers = [nn.Conv2d(channels, features, 3, 1, 1), activation_layer(activation, features)]
        for _ in range(convs):
            layers += [nn.Conv2d(features, features, 3, 1, 1), activation_layer(activation, features)]
        layers.append(nn.Conv2d(features, channels * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.shuffle(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")
