"""The generator of the widely used PyTorch StyleGAN2 port (rosinality/stylegan2-pytorch), laid out
so that its `g_ema` weights load under the port's own names (prefixed `mapping.` for the `style.*`
mapping layers and `synthesis.` for the rest), computing what the port computes.

It differs from models/stylegan2.py, which is our own StyleGAN2: the port upsamples inside its
modulated convolutions with a stride-2 transposed convolution followed by a [1, 3, 3, 1] blur, and
upsamples the RGB skip with the same blur filter, where ours interpolates bilinearly; its
ToRGB bias is [1, C, 1, 1]; its widths follow a fixed table (512 up to 32 px, then 256, 128, ...
times a channel multiplier), which the constructor takes as an explicit list so any widths load.

Modulation scales the input activations and demodulation scales the output, instead of folding
both into a per-sample weight run as a grouped convolution as the port does: the same function,
and an ONNX graph whose batch axis stays dynamic. The interface is what models/style_export.py
reads (mapping, synthesis with noise_shapes/const_noise, w_avg, num_ws), so an imported port model
serves truncation, style mixing, walks and noise modes like the bundled style model.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import register

SQRT2 = math.sqrt(2.0)
BLUR_KERNEL = (1.0, 3.0, 3.0, 1.0)


def blur_kernel_2d(taps=BLUR_KERNEL, gain: float = 1.0) -> torch.Tensor:
    """The port's 2-D filter: the outer product of `taps`, normalised to sum to `gain`
    (4 where it follows a 2x upsampling, which leaves three zeros beside each pixel)."""
    taps = torch.tensor(taps, dtype=torch.float32)
    kernel = taps[None, :] * taps[:, None]
    return kernel / kernel.sum() * gain


def depthwise(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    """One 2-D filter as a per-channel convolution weight [channels, 1, K, K]."""
    return kernel[None, None].expand(channels, 1, -1, -1)


def blur(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Pad (before, after) on both axes and filter each channel; the filter is flipped, since the
    port's filtering is a true convolution and conv2d is a correlation."""
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    return F.conv2d(x, depthwise(kernel.flip(0, 1), x.shape[1]), groups=x.shape[1])


def upsample_blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Double the size: zeros between pixels, then the filter (the port's Upsample with its padding
    (K - 2 + 1) // 2 + 1 before and (K - 2) // 2 after). A stride-2 transposed convolution inserts
    the zeros and filters in one step; its output is K - 2 pixels larger, cropped here."""
    k = kernel.shape[0]
    before = (k - 2 + 1) // 2 + 1
    y = F.conv_transpose2d(x, depthwise(kernel, x.shape[1]), stride=2, groups=x.shape[1])
    start = k - 1 - before
    return y[:, :, start:start + 2 * x.shape[2], start:start + 2 * x.shape[3]]


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """The port's linear layer with the equalized learning rate; with `activate`, its fused leaky
    ReLU (bias, then leaky_relu(0.2), times sqrt 2)."""

    def __init__(self, in_dim: int, out_dim: int, *, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x


class ModulatedConv2d(nn.Module):
    """weight [1, out, in, k, k] as the port stores it; styles scale the input channels; with
    `upsample`, a stride-2 transposed convolution and the blur (buffer `blur.kernel`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, style_dim: int, *,
                 demodulate: bool = True, upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel, kernel))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.padding = kernel // 2
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            self.blur = nn.Module()
            self.blur.register_buffer("kernel", blur_kernel_2d(gain=4.0))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.modulation(w)  # [N, in]
        weight = self.weight[0] * self.scale  # [out, in, k, k]
        x = x * styles[:, :, None, None]
        if self.upsample:
            x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            # The port's padding for this blur, which brings the transposed convolution's output
            # (k - 2 pixels over twice the input) back to exactly twice it: 1 and 1 for K = 4, k = 3.
            p = self.blur.kernel.shape[0] - 2 - (weight.shape[2] - 1)
            x = blur(x, self.blur.kernel, ((p + 1) // 2 + 1, p // 2 + 1))
        else:
            x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # per sample and output channel: the norm of the style-scaled filter
            energy = (weight.square().sum(dim=(2, 3))[None] * styles.square()[:, None, :]).sum(dim=2)
            x = x * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        return x


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * SQRT2


class StyledConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, style_dim: int, resolution: int, *, upsample: bool):
        super().__init__()
        self.resolution = resolution
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    """A 1x1 modulated convolution without demodulation, plus the upsampled image so far (buffer
    `upsample.kernel`), except at the first resolution."""

    def __init__(self, in_channels: int, channels: int, style_dim: int, *, upsample: bool):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        if upsample:
            self.upsample = nn.Module()
            self.upsample.register_buffer("kernel", blur_kernel_2d(gain=4.0))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        rgb = self.conv(x, w) + self.bias
        return rgb if skip is None else rgb + upsample_blur(skip, self.upsample.kernel)


class PortMapping(nn.Module):
    """z -> w: PixelNorm, then n_mlp fully connected layers at the mapping learning rate."""

    def __init__(self, style_dim: int, n_mlp: int, lr_mlp: float):
        super().__init__()
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activate=True) for _ in range(n_mlp)])

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.style(z)


class PortSynthesis(nn.Module):
    """ws [N, num_ws, style_dim] and one noise map per layer -> images [N, C, size, size]."""

    def __init__(self, style_dim: int, widths: list[int], channels: int, start: int):
        super().__init__()
        self.resolutions = [start * 2**i for i in range(len(widths))]
        self.input = nn.Module()
        self.input.input = nn.Parameter(torch.randn(1, widths[0], start, start))
        self.conv1 = StyledConv(widths[0], widths[0], style_dim, start, upsample=False)
        self.to_rgb1 = ToRGB(widths[0], channels, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for previous, width, resolution in zip(widths, widths[1:], self.resolutions[1:]):
            self.convs.append(StyledConv(previous, width, style_dim, resolution, upsample=True))
            self.convs.append(StyledConv(width, width, style_dim, resolution, upsample=False))
            self.to_rgbs.append(ToRGB(width, channels, style_dim, upsample=True))
        self.layers = [self.conv1, *self.convs]  # in the order they read ws and noise maps
        self.num_ws = len(self.layers) + 1  # the last w is the last ToRGB's
        self.noises = nn.Module()
        for i, layer in enumerate(self.layers):
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, layer.resolution, layer.resolution))

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        return [(1, layer.resolution, layer.resolution) for layer in self.layers]

    def const_noise(self, batch: int) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}").expand(batch, -1, -1, -1) for i in range(len(self.layers))]

    def forward(self, ws: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
        noise = list(noise) or self.const_noise(ws.shape[0])
        x = self.input.input.expand(ws.shape[0], -1, -1, -1)
        x = self.conv1(x, ws[:, 0], noise[0])
        image = self.to_rgb1(x, ws[:, 1])
        for block, to_rgb in enumerate(self.to_rgbs):
            first = 1 + 2 * block  # the index of this block's first layer, its w and its noise map
            x = self.convs[2 * block](x, ws[:, first], noise[first])
            x = self.convs[2 * block + 1](x, ws[:, first + 1], noise[first + 1])
            image = to_rgb(x, ws[:, first + 2], image)
        return image


@register("stylegan2_port_generator")
class StyleGAN2PortGenerator(nn.Module):
    """The port's Generator: `widths` are the feature maps per resolution from `start` (4) up to
    `size` (the port's table: 512 up to 32 px, then 256, 128, 64, 32, 16 x channel_multiplier)."""

    def __init__(self, size: int = 256, style_dim: int = 512, n_mlp: int = 8, widths: list[int] | None = None,
                 channels: int = 3, lr_mlp: float = 0.01, start: int = 4):
        super().__init__()
        if size < start or size & (size - 1) or start & (start - 1):
            raise ValueError(f"size and start must be powers of two with size >= start, got {size} and {start}")
        blocks = int(math.log2(size // start)) + 1
        widths = list(widths) if widths is not None else [port_width(start * 2**i) for i in range(blocks)]
        if len(widths) != blocks:
            raise ValueError(f"{blocks} widths are needed from {start} to {size} px, got {len(widths)}")
        self.latent_dim = style_dim
        self.num_classes = 0
        self.image_size = size
        self.mapping = PortMapping(style_dim, n_mlp, lr_mlp)
        self.synthesis = PortSynthesis(style_dim, widths, channels, start)
        self.register_buffer("w_avg", torch.zeros(style_dim))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def forward(self, z: torch.Tensor, psi: float = 1.0, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        w = self.mapping(z)
        if psi != 1.0:
            w = self.w_avg.lerp(w, psi)
        return self.synthesis(w[:, None].expand(-1, self.num_ws, -1), *(noise or []))


def port_width(resolution: int, channel_multiplier: int = 2) -> int:
    """The port's channel table."""
    if resolution <= 32:
        return 512
    return 256 * channel_multiplier * 64 // resolution
