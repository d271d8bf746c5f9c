"""CycleGAN (Zhu et al., 2017): the ResNet generator, as in junyanz/pytorch-CycleGAN-and-pix2pix.

c7s1-ngf, two stride-2 convolutions down (ngf -> 2ngf -> 4ngf), `n_blocks` residual blocks
at 4ngf (6 for 128x128 images, 9 for 256x256 and up in the paper), two transposed convolutions
up, c7s1-channels_out and tanh. Instance norm without affine parameters or running statistics,
reflection padding around every 3x3 and 7x7 convolution so the borders carry no zero-padding
artefacts. Inputs are multiples of 4 (two halvings). The discriminators are the PatchGAN of
models/pix2pix.py (on one image, not a pair).
"""

import torch
from torch import nn

from models.layers import init_weights, norm_layer
from models.registry import register


class ResnetBlock(nn.Module):
    """x + conv-norm-relu-conv-norm(x), reflection padded."""

    def __init__(self, width: int, norm: str = "instance", dropout: bool = False):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias), make_norm(width), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(width, width, 3, bias=bias), make_norm(width)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


@register("resnet_generator")
class ResnetGenerator(nn.Module):
    """image [N, channels_in, H, W] in [-1, 1] -> [N, channels_out, H, W] in [-1, 1]; H, W multiples of 4."""

    size_multiple = 4

    def __init__(self, channels_in: int = 3, channels_out: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False):
        super().__init__()
        if n_blocks < 0:
            raise ValueError("n_blocks must be >= 0")
        make_norm = norm_layer(norm)
        bias = norm == "instance"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(channels_in, ngf, 7, bias=bias), make_norm(ngf), nn.ReLU(True),
        ]
        for i in range(2):
            mult = 2**i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias), make_norm(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, use_dropout) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                make_norm(ngf * mult // 2), nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels_out, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


@register("resnet_6blocks")
class Resnet6Generator(ResnetGenerator):
    """The 6-block ResNet generator (the paper's choice for 128x128 images)."""

    def __init__(self, channels_in: int = 3, channels_out: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False):
        super().__init__(channels_in, channels_out, ngf, 6, norm, use_dropout)


@register("resnet_9blocks")
class Resnet9Generator(ResnetGenerator):
    """The 9-block ResNet generator (the paper's choice for 256x256 images)."""

    def __init__(self, channels_in: int = 3, channels_out: int = 3, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False):
        super().__init__(channels_in, channels_out, ngf, 9, norm, use_dropout)
