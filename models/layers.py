"""Building blocks and initialisations that several architectures share.

Architectures never import each other: what two of them use lives here.
"""

import functools

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (2, 4)
UPSAMPLERS = ("progressive", "direct")


def norm_layer(kind: str):
    """'batch' (pix2pix) or 'instance' (CycleGAN: no affine, no running statistics)."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    raise ValueError(f"unknown norm {kind!r}; use 'batch' or 'instance'")


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """junyanz's 'normal' init: conv weights N(0, 0.02), biases 0, norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, gain)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, gain)
        nn.init.zeros_(module.bias)


def scaled_kaiming_(module: nn.Module, scale: float = 0.1) -> None:
    """Kaiming-normal convolutions scaled down (BasicSR's default_init_weights): each residual
    block starts close to the identity, which keeps deep stacks without batch norm stable."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            m.weight.data.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def check_scale(scale: int) -> None:
    if scale not in SCALES:
        raise ValueError(f"scale {scale} is not supported; use one of {SCALES}")


def pixel_shuffle_upsampler(features: int, out_features: int, scale: int, upsampler: str) -> nn.Module:
    """Sub-pixel convolution (Shi et al. 2016) from `features` to `out_features` at `scale`x.

    "progressive": x2 stages of conv -> PixelShuffle(2) -> LeakyReLU, then convs at the output
    resolution (BasicSR's MSRResNet). "direct": one conv and a single PixelShuffle(scale) (ESPCN):
    no convolution at the output resolution, about 4x cheaper per pixel at x4.
    """
    check_scale(scale)
    if upsampler == "direct":
        return nn.Sequential(nn.Conv2d(features, out_features * scale * scale, 3, 1, 1), nn.PixelShuffle(scale))
    if upsampler != "progressive":
        raise ValueError(f"unknown upsampler {upsampler!r}; known: {', '.join(UPSAMPLERS)}")
    layers: list[nn.Module] = []
    for _ in range({2: 1, 4: 2}[scale]):
        layers += [nn.Conv2d(features, features * 4, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.1, inplace=True)]
    layers += [nn.Conv2d(features, features, 3, 1, 1), nn.LeakyReLU(0.1, inplace=True),
               nn.Conv2d(features, out_features, 3, 1, 1)]
    return nn.Sequential(*layers)


def plus_bilinear(out: torch.Tensor, image: torch.Tensor, scale: int) -> torch.Tensor:
    """A super-resolution output plus its input upsampled bilinearly (the global residual), so
    the network only learns the detail that interpolation misses."""
    return out + F.interpolate(image, scale_factor=scale, mode="bilinear", align_corners=False)


class SelfAttention2d(nn.Module):
    """Self-attention over the positions of a feature map (SAGAN, Zhang et al. 2019).

    Every position attends to every other through 1x1 projections (queries and keys at C/8
    channels, values at C/2); the result is added back scaled by a learned gain that starts at
    0, so a network begins as its convolutional self and learns how much long-range context to use.
    """

    def __init__(self, channels: int):
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = nn.Conv2d(channels, inner, 1, bias=False)
        self.key = nn.Conv2d(channels, inner, 1, bias=False)
        self.value = nn.Conv2d(channels, max(channels // 2, 1), 1, bias=False)
        self.out = nn.Conv2d(max(channels // 2, 1), channels, 1, bias=False)
        self.gain = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2)  # [N, C/8, HW]
        k = self.key(x).flatten(2)
        v = self.value(x).flatten(2)  # [N, C/2, HW]
        attention = torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)  # [N, HW (query), HW (key)]
        attended = torch.bmm(v, attention.transpose(1, 2)).reshape(n, -1, h, w)
        return x + self.gain * self.out(attended)
