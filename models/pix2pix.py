"""pix2pix (Isola et al., 2017): a U-Net generator and a PatchGAN discriminator.

Both follow junyanz/pytorch-CycleGAN-and-pix2pix. The U-Net goes down `num_downs` times with
4x4 stride-2 convolutions (so inputs are multiples of 2**num_downs) and comes back up with
transposed convolutions, concatenating each encoder map to the decoder map of its size. Widths
are ngf, 2ngf, 4ngf, then 8ngf for every further level. Dropout (p = 0.5) sits in the decoder
of the 8ngf levels between the innermost and the three outermost, so `unet_256` (8 levels) has
three dropout layers and the small variants for small images (`unet_32`, 5 levels) have none.

Dropout and batch norm at inference: the paper keeps dropout on at test time as the noise
source. A service wants the same answer for the same input (its results are cached), so the
exporter (models/translator_export.py) puts the generator in eval mode: dropout off, batch norm
on its running statistics, which also makes the answer independent of the image's size.

The discriminator is the N-layer PatchGAN: with `n_layers=3` each output logit sees a 70x70
patch of the input (`patchgan_receptive_field`); for pix2pix it sees input and output
concatenated on the channel axis.
"""

import torch
from torch import nn

from models.layers import init_weights, norm_layer
from models.registry import register


class _SkipBlock(nn.Module):
    """One U-Net level: down, the inner levels, up; concatenates its input to its output
    except at the outermost level."""

    def __init__(self, outer: int, inner: int, *, channels_in: int | None = None, channels_out: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        make_norm = norm_layer(norm)
        bias = norm == "instance"  # batch norm has its own shift
        channels_in = outer if channels_in is None else channels_in
        down = nn.Conv2d(channels_in, inner, 4, 2, 1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, channels_out, 4, 2, 1)
            layers = [down, submodule, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, make_norm(outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, make_norm(inner), submodule, nn.ReLU(True), up, make_norm(outer)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@register("unet_generator")
class UNetGenerator(nn.Module):
    """image [N, channels_in, H, W] in [-1, 1] -> [N, channels_out, H, W] in [-1, 1];
    H and W multiples of 2**num_downs."""

    def __init__(self, channels_in: int = 3, channels_out: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5 (the three outer levels, one 8ngf level and the innermost), not {num_downs}")
        self.size_multiple = 2**num_downs
        block = _SkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = _SkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=use_dropout)
        block = _SkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = _SkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = _SkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = _SkipBlock(channels_out, ngf, channels_in=channels_in, channels_out=channels_out,
                                submodule=block, outermost=True, norm=norm)
        self.apply(init_weights)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


def _unet_variant(name: str, num_downs: int):
    @register(name)
    class Variant(UNetGenerator):
        __doc__ = f"The U-Net for {2**num_downs}x{2**num_downs} images: {num_downs} levels."

        def __init__(self, channels_in: int = 3, channels_out: int = 3, ngf: int = 64, norm: str = "batch",
                     use_dropout: bool = True):
            super().__init__(channels_in, channels_out, num_downs, ngf, norm, use_dropout)

    Variant.__name__ = Variant.__qualname__ = f"UNet{2**num_downs}"
    return Variant


UNet256 = _unet_variant("unet_256", 8)
UNet128 = _unet_variant("unet_128", 7)
UNet64 = _unet_variant("unet_64", 6)
UNet32 = _unet_variant("unet_32", 5)

UNET_LEVELS = {"unet_256": 8, "unet_128": 7, "unet_64": 6, "unet_32": 5}


def unet_for_size(image_size: int) -> str:
    """The U-Net variant whose innermost level is 1x1 at `image_size` (the smallest one for
    smaller images, whose inputs are then padded up)."""
    for name, levels in sorted(UNET_LEVELS.items(), key=lambda item: item[1]):
        if image_size <= 2**levels:
            return name
    return "unet_256"


@register("patchgan_discriminator")
class PatchGANDiscriminator(nn.Module):
    """image [N, channels, H, W] -> a map of real/fake logits, one per overlapping patch.

    n_layers=3 is the 70x70 PatchGAN; fewer layers see smaller patches (n_layers=1: 16x16,
    2: 34x34), which suits small images.
    """

    def __init__(self, channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            previous, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, 2, 1, bias=bias), make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        previous, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, 1, 1, bias=bias), make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image)


def patchgan_receptive_field(n_layers: int) -> int:
    """Side of the input patch one output logit sees: 70 for n_layers=3."""
    kernels_strides = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
    field = 1
    for kernel, stride in reversed(kernels_strides):
        field = (field - 1) * stride + kernel
    return field
