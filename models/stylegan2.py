"""StyleGAN2 (Karras et al. 2020), sized for small images and a CPU.

Generator: a mapping network turns z (and a class, when conditional) into w; the synthesis
network starts from a learned 4x4 constant and, per resolution, applies modulated and
demodulated 3x3 convolutions whose per-input-channel scales ("styles") come from w, adds
per-pixel noise scaled by a learned strength, and sums the RGB outputs of every resolution
(the skip architecture). Discriminator: residual blocks with a minibatch standard deviation
channel at 4x4, and a projection head for classes.

Simplifications against the paper, for size, export and a CPU: upsampling is bilinear before
the convolution (no transposed convolution with a blur filter), applied after the style scaling,
which commutes with it; modulation scales the input activations rather than the weights (the
"non-fused" form, which computes the same function and keeps the batch axis dynamic in an ONNX
graph, where grouped convolutions cannot), except in 1x1 layers, where a per-sample weight in a
matrix product is cheaper; the discriminator halves with a 2x2 box filter before its second
convolution of a block (the paper blurs and strides that convolution: the same cost).

The synthesis network reads one w per layer (`ws`, [N, num_ws, w_dim]), so truncation towards
the tracked average of w, style mixing and latent walks are operations on plain arrays done
outside the graph.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.registry import register

SQRT2 = math.sqrt(2.0)


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class EqualLinear(nn.Module):
    """A linear layer with the equalized learning rate: weights drawn N(0, 1/lr_mul) and scaled
    at run time, so Adam's step size means the same for every layer."""

    def __init__(self, in_features: int, out_features: int, *, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x


def pointwise(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution as a matrix product, weight [1 or N, out, in]: several times faster than
    conv2d on a CPU at the few channels of an RGB layer, and a per-sample weight comes free."""
    n, _, h, w = x.shape
    return torch.matmul(weight, x.flatten(2)).reshape(n, -1, h, w)


class EqualConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, *, bias: bool = True, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.padding = kernel // 2
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight * self.scale
        if weight.shape[2] == 1:
            x = pointwise(x, weight[None, :, :, 0, 0])
            x = x if self.bias is None else x + self.bias[None, :, None, None]
        else:
            x = F.conv2d(x, weight, self.bias, padding=self.padding)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activate else x


class MappingNetwork(nn.Module):
    """z (normalized) [+ a class embedding, normalized] -> w, through `depth` fully connected layers
    whose learning rate is 1/100 of the synthesis network's (lr_mul), as in the paper."""

    def __init__(self, z_dim: int, w_dim: int, depth: int, num_classes: int = 0, lr_mul: float = 0.01):
        super().__init__()
        self.num_classes = num_classes
        self.embed = EqualLinear(num_classes, w_dim) if num_classes else None
        in_features = z_dim + (w_dim if num_classes else 0)
        self.layers = nn.Sequential(*[
            EqualLinear(in_features if i == 0 else w_dim, w_dim, lr_mul=lr_mul, activate=True) for i in range(depth)
        ])

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            onehot = F.one_hot(labels, self.num_classes).to(z.dtype)
            x = torch.cat([x, normalize_2nd_moment(self.embed(onehot))], dim=1)
        return self.layers(x)


class ModulatedConv2d(nn.Module):
    """A convolution whose input channels are scaled by a style from w, with the output of each
    filter divided by its expected standard deviation (demodulation) instead of instance norm."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, w_dim: int, *, demodulate: bool = True):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)  # styles start at 1
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.padding = kernel // 2
        self.demodulate = demodulate

    def forward(self, x: torch.Tensor, w: torch.Tensor, *, upsample: bool = False) -> torch.Tensor:
        styles = self.affine(w)  # [N, in]
        weight = self.weight * self.scale
        if weight.shape[2] == 1:  # the styles go into a per-sample weight, cheaper than scaling x
            x = pointwise(x, weight[None, :, :, 0, 0] * styles[:, None, :])
        else:
            x = x * styles[:, :, None, None]
            if upsample:  # after the per-channel scaling, which commutes with it: a quarter of the pixels
                x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            # sum over in-channels and taps of (weight * style)^2, per sample and out-channel
            energy = (weight.square().sum(dim=(2, 3))[None] * styles.square()[:, None, :]).sum(dim=2)  # [N, out]
            x = x * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        return x


class SynthesisLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *, upsample: bool):
        super().__init__()
        self.upsample = upsample
        self.resolution = resolution
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = self.conv(x, w, upsample=self.upsample) + noise * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * SQRT2


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


def channels_at(resolution: int, base_channels: int, max_channels: int) -> int:
    """Feature maps halve as the resolution doubles, from `max_channels` at 4x4 down."""
    return min(max_channels, max(8, base_channels * 32 // resolution))


def resolutions(image_size: int) -> list[int]:
    if image_size < 4 or image_size & (image_size - 1):
        raise ValueError(f"StyleGAN2 needs a power-of-two image size of at least 4, got {image_size}")
    return [2**i for i in range(2, int(math.log2(image_size)) + 1)]


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] and one noise map per layer -> images [N, C, H, W] in [-1, 1]
    (not clamped: the exporter and the worker clip)."""

    def __init__(self, w_dim: int, image_size: int, channels: int, base_channels: int, max_channels: int):
        super().__init__()
        self.resolutions = resolutions(image_size)
        first = channels_at(4, base_channels, max_channels)
        self.const = nn.Parameter(torch.randn(1, first, 4, 4))
        self.layers = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        self.rgb_ws: list[int] = []  # which w each ToRGB reads
        width = first
        for resolution in self.resolutions:
            out = channels_at(resolution, base_channels, max_channels)
            if resolution > 4:
                self.layers.append(SynthesisLayer(width, out, w_dim, resolution, upsample=True))
            self.layers.append(SynthesisLayer(out if resolution > 4 else width, out, w_dim, resolution, upsample=False))
            self.to_rgb.append(ToRGB(out, channels, w_dim))
            self.rgb_ws.append(len(self.layers))  # the w of the next layer, as in the paper
            width = out
        self.num_ws = len(self.layers) + 1
        # Fixed noise for `noise_mode: const`: one map per layer, kept with the weights.
        for i, layer in enumerate(self.layers):
            self.register_buffer(f"noise_const_{i}", torch.randn(1, 1, layer.resolution, layer.resolution))

    def noise_shapes(self) -> list[tuple[int, int, int]]:
        return [(1, layer.resolution, layer.resolution) for layer in self.layers]

    def const_noise(self, batch: int) -> list[torch.Tensor]:
        return [getattr(self, f"noise_const_{i}").expand(batch, -1, -1, -1) for i in range(len(self.layers))]

    def random_noise(self, batch: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        device = self.const.device
        return [torch.randn(batch, *shape, generator=generator, device=device) for shape in self.noise_shapes()]

    def forward(self, ws: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
        noise = list(noise) or self.const_noise(ws.shape[0])
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        image = None
        layer_index = 0
        for block, resolution in enumerate(self.resolutions):
            for _ in range(1 if resolution == 4 else 2):
                x = self.layers[layer_index](x, ws[:, layer_index], noise[layer_index])
                layer_index += 1
            rgb = self.to_rgb[block](x, ws[:, self.rgb_ws[block]])
            image = rgb if image is None else F.interpolate(image, scale_factor=2.0, mode="bilinear",
                                                            align_corners=False) + rgb
        return image


@register("stylegan2_generator")
class StyleGAN2Generator(nn.Module):
    """Mapping + synthesis, with the tracked average of w (for truncation) as a buffer."""

    def __init__(self, latent_dim: int = 128, w_dim: int = 128, mapping_layers: int = 4, image_size: int = 32,
                 channels: int = 3, num_classes: int = 0, base_channels: int = 32, max_channels: int = 128):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, num_classes)
        self.synthesis = SynthesisNetwork(w_dim, image_size, channels, base_channels, max_channels)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def track_w_avg(self, w: torch.Tensor, beta: float = 0.995) -> None:
        self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, beta))

    def ws(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0) -> torch.Tensor:
        w = self.mapping(z, labels)
        if psi != 1.0:
            w = self.w_avg.lerp(w, psi)
        return w[:, None].expand(-1, self.num_ws, -1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0,
                noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        return self.synthesis(self.ws(z, labels, psi), *(noise or []))


class MinibatchStd(nn.Module):
    """Appends the standard deviation of features across groups of samples as one channel, so the
    discriminator can see a batch that lacks variety (Karras et al. 2018)."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        while n % group:
            group -= 1
        y = x.reshape(group, -1, c, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # [n / group]
        y = y.reshape(-1, 1, 1, 1).repeat(group, 1, h, w)
        return torch.cat([x, y], dim=1)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """2x2 box filter with stride 2 (avg_pool2d's function), as a depthwise convolution: about
    twice as fast as avg_pool2d forward and backward on a CPU."""
    kernel = torch.full((x.shape[1], 1, 2, 2), 0.25, dtype=x.dtype, device=x.device)
    return F.conv2d(x, kernel, stride=2, groups=x.shape[1])


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activate=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activate=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(downsample(x))
        # conv1 runs after the halving, at the lower resolution: the paper's blur-and-stride-2
        # convolution costs about that too, a quarter of a full-resolution one.
        x = self.conv1(downsample(self.conv0(x)))
        return (x + skip) / SQRT2


@register("stylegan2_discriminator")
class StyleGAN2Discriminator(nn.Module):
    """Residual discriminator; with classes, a projection head (score + <embed(class), features>)."""

    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 0, base_channels: int = 32,
                 max_channels: int = 128):
        super().__init__()
        sizes = resolutions(image_size)[::-1]  # e.g. 32, 16, 8, 4
        self.from_rgb = EqualConv2d(channels, channels_at(sizes[0], base_channels, max_channels), 1, activate=True)
        self.blocks = nn.Sequential(*[
            DiscriminatorBlock(channels_at(r, base_channels, max_channels), channels_at(r // 2, base_channels, max_channels))
            for r in sizes[:-1]
        ])
        width = channels_at(4, base_channels, max_channels)
        self.mbstd = MinibatchStd()
        self.conv = EqualConv2d(width + 1, width, 3, activate=True)
        self.fc = EqualLinear(width * 16, width, activate=True)
        self.out = EqualLinear(width, 1)
        self.embed = EqualLinear(num_classes, width) if num_classes else None
        self.num_classes = num_classes

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.blocks(self.from_rgb(images))
        x = self.fc(self.conv(self.mbstd(x)).flatten(1))
        score = self.out(x).squeeze(1)
        if self.embed is not None:
            onehot = F.one_hot(labels, self.num_classes).to(x.dtype)
            score = score + (self.embed(onehot) * x).sum(dim=1) / math.sqrt(x.shape[1])
        return score
