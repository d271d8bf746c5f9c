"""DCGAN (Radford et al., 2016) generator and discriminator, plain and class-conditional, with an
optional self-attention block at one resolution (SAGAN, Zhang et al. 2019).

Sizes: an image of side `image_size = start * 2**k` with a start side of 3 to 7 pixels is built
by projecting z to a `start x start` map and doubling it k times with stride-2 transposed
convolutions; the discriminator mirrors that with stride-2 convolutions. So 28 = 7 * 2**2
(MNIST), 32 = 4 * 2**3, 64 = 4 * 2**4, 8 = 4 * 2**1 (scikit-learn digits).
"""

import itertools

import torch
from torch import nn

from models.layers import SelfAttention2d
from models.registry import register
from models.shapes import start_size


def weights_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _attention_sides(image_size: int) -> list[int]:
    """Sides of the inner feature maps, where a self-attention block may go."""
    start, doublings = start_size(image_size)
    return [start * 2**i for i in range(doublings)]


def default_attention_side(image_size: int) -> int:
    """Where self-attention goes unless told: the largest inner map up to 16x16 (SAGAN's models
    attend at 32x32 and 64x64 of 128-px images; on small images the middle maps carry the shape)."""
    sides = _attention_sides(image_size)
    return max((side for side in sides if side <= 16), default=min(sides))


def _check_attention(attention_at: int, image_size: int) -> None:
    if attention_at and attention_at not in _attention_sides(image_size):
        sides = ", ".join(map(str, _attention_sides(image_size)))
        raise ValueError(f"attention_at={attention_at}: a {image_size}-px network has inner maps of side {sides}")


def _generator_trunk(in_features: int, channels: int, image_size: int, base_features: int,
                     attention_at: int = 0) -> nn.Sequential:
    """`attention_at`: the side of the feature map after which a self-attention block goes (0: none)."""
    _check_attention(attention_at, image_size)
    start, doublings = start_size(image_size)
    widths = [base_features * 2 ** (doublings - 1 - i) for i in range(doublings)]  # e.g. 128, 64
    layers: list[nn.Module] = [
        # z as a 1x1 map -> start x start
        nn.ConvTranspose2d(in_features, widths[0], start, 1, 0, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(inplace=True),
    ]
    if attention_at == start:
        layers.append(SelfAttention2d(widths[0]))
    side = start
    for wide, narrow in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), nn.BatchNorm2d(narrow), nn.ReLU(inplace=True)]
        side *= 2
        if attention_at == side:
            layers.append(SelfAttention2d(narrow))
    layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def _norm_layers(norm: str, width: int) -> list[nn.Module]:
    """The normalisation after a discriminator convolution.

    "layer" normalises each image over all its features (GroupNorm with one group), so a score
    depends on that image alone: what a gradient penalty needs, and the replacement for batch
    norm that Gulrajani et al. (2017) recommend for the WGAN-GP critic.
    """
    match norm:
        case "batch":
            return [nn.BatchNorm2d(width)]
        case "layer":
            return [nn.GroupNorm(1, width)]
        case "none":
            return []
    raise ValueError(f"unknown discriminator norm {norm!r}; known: batch, layer, none")


def _discriminator_trunk(channels: int, image_size: int, base_features: int, norm: str,
                         attention_at: int = 0) -> tuple[nn.Sequential, int]:
    """Convolutions from an image down to a `start x start` map; returns it and its width."""
    _check_attention(attention_at, image_size)
    _, doublings = start_size(image_size)
    widths = [base_features * 2**i for i in range(doublings)]  # e.g. 64, 128
    # No norm on the first layer, as in the paper: it sees the raw images.
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    side = image_size // 2
    if attention_at == side:
        layers.append(SelfAttention2d(widths[0]))
    for narrow, wide in zip(widths, widths[1:]):
        # A bias only where no norm follows to supply one.
        conv = nn.Conv2d(narrow, wide, 4, 2, 1, bias=norm == "none")
        layers += [conv, *_norm_layers(norm, wide), nn.LeakyReLU(0.2, inplace=True)]
        side //= 2
        if attention_at == side:
            layers.append(SelfAttention2d(wide))
    return nn.Sequential(*layers), widths[-1]


def _apply_spectral_norm(discriminator: nn.Module) -> None:
    """Spectral normalisation (Miyato et al. 2018) on every weight layer, after initialisation.

    Each weight is divided by an estimate of its largest singular value, refined by one power
    iteration per forward pass in train mode; its vectors are buffers, so checkpoints keep them.
    """
    for module in list(discriminator.modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
            nn.utils.parametrizations.spectral_norm(module)


@register("dcgan_generator")
class DCGANGenerator(nn.Module):
    """z [N, latent_dim] -> images [N, channels, image_size, image_size] in [-1, 1]."""

    def __init__(self, latent_dim: int = 64, channels: int = 1, image_size: int = 28, base_features: int = 64,
                 attention_at: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _generator_trunk(latent_dim, channels, image_size, base_features, attention_at)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


@register("dcgan_discriminator")
class DCGANDiscriminator(nn.Module):
    """images [N, C, H, W] -> one real/fake score per image, [N].

    `norm` is "batch" (the paper's), "layer" or "none"; `spectral_norm` normalises every layer.
    """

    def __init__(
        self,
        channels: int = 1,
        image_size: int = 28,
        base_features: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
        attention_at: int = 0,
    ):
        super().__init__()
        self.trunk, width = _discriminator_trunk(channels, image_size, base_features, norm, attention_at)
        start, _ = start_size(image_size)
        self.head = nn.Conv2d(width, 1, start, 1, 0, bias=False)  # a linear layer over the whole map
        self.apply(weights_init)
        if spectral_norm:
            _apply_spectral_norm(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images)).flatten()


@register("cdcgan_generator")
class ConditionalDCGANGenerator(nn.Module):
    """(z [N, latent_dim], labels int64 [N]) -> images of those classes, [N, C, H, W] in [-1, 1].

    A learned embedding of the label is concatenated to z before the first layer.
    """

    def __init__(
        self,
        latent_dim: int = 64,
        num_classes: int = 10,
        channels: int = 1,
        image_size: int = 28,
        base_features: int = 64,
        embed_dim: int = 16,
        attention_at: int = 0,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = _generator_trunk(latent_dim + embed_dim, channels, image_size, base_features, attention_at)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        code = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(code[:, :, None, None])


@register("cdcgan_discriminator")
class ConditionalDCGANDiscriminator(nn.Module):
    """(images, labels) -> one score per image, [N]: a projection discriminator.

    Projection (Miyato & Koyama, 2018): logit = w . h + embed(label) . h, where h is the
    flattened feature map. The label enters as an inner product with the features rather than
    as extra input channels, which conditions more strongly and costs one embedding row per class.
    """

    def __init__(
        self,
        num_classes: int = 10,
        channels: int = 1,
        image_size: int = 28,
        base_features: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
        attention_at: int = 0,
    ):
        super().__init__()
        self.trunk, width = _discriminator_trunk(channels, image_size, base_features, norm, attention_at)
        start, _ = start_size(image_size)
        features = width * start * start
        self.head = nn.Linear(features, 1)
        self.project = nn.Embedding(num_classes, features)
        self.apply(weights_init)
        nn.init.normal_(self.project.weight, 0.0, 0.02)
        if spectral_norm:
            _apply_spectral_norm(self)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.trunk(images).flatten(1)
        return self.head(h).flatten() + (self.project(labels) * h).sum(dim=1)


INFOGAN_ARCHS = ("conv", "paper-fc")


def _check_infogan_arch(arch: str) -> None:
    if arch not in INFOGAN_ARCHS:
        raise ValueError(f"unknown InfoGAN arch {arch!r}; known: {', '.join(INFOGAN_ARCHS)}")


def _paper_fc_generator(in_features: int, channels: int, image_size: int, base_features: int,
                        fc_features: int) -> nn.Sequential:
    """Chen et al.'s MNIST generator: two fully connected layers (batch-normed) up to the start
    map, then the DCGAN upsampling. The wide hidden layer lets the codes mix with z before any
    spatial layout, which is where a category has to pick a whole digit shape."""
    start, doublings = start_size(image_size)
    widths = [base_features * 2 ** (doublings - 1 - i) for i in range(doublings)]  # e.g. 128, 64
    layers: list[nn.Module] = [
        nn.Linear(in_features, fc_features, bias=False), nn.BatchNorm1d(fc_features), nn.ReLU(inplace=True),
        nn.Linear(fc_features, widths[0] * start * start, bias=False), nn.BatchNorm1d(widths[0] * start * start),
        nn.ReLU(inplace=True), nn.Unflatten(1, (widths[0], start, start)),
    ]
    for wide, narrow in itertools.pairwise(widths):
        layers += [nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), nn.BatchNorm2d(narrow), nn.ReLU(inplace=True)]
    layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


@register("infogan_generator")
class InfoGANGenerator(nn.Module):
    """(z [N, latent_dim], codes [N, code_dim]) -> images, [N, C, H, W] in [-1, 1] (Chen et al. 2016).

    `codes` holds each categorical code one-hot, then the continuous codes, concatenated; both go
    in beside z, and the training makes the discriminator's Q head able to read them back.
    `arch`: "conv" projects (z, codes) straight to the start map (the DCGAN trunk); "paper-fc"
    is the paper's MNIST generator, with two fully connected layers of `fc_features` first."""

    def __init__(self, latent_dim: int = 62, code_dim: int = 12, channels: int = 1, image_size: int = 28,
                 base_features: int = 64, arch: str = "conv", fc_features: int = 1024):
        super().__init__()
        _check_infogan_arch(arch)
        self.latent_dim = latent_dim
        self.code_dim = code_dim
        self.arch = arch
        if arch == "conv":
            self.net = _generator_trunk(latent_dim + code_dim, channels, image_size, base_features)
        else:
            self.net = _paper_fc_generator(latent_dim + code_dim, channels, image_size, base_features, fc_features)
        self.apply(weights_init)

    def forward(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        x = torch.cat([z, codes], dim=1)
        return self.net(x[:, :, None, None] if self.arch == "conv" else x)


@register("infogan_discriminator")
class InfoGANDiscriminator(nn.Module):
    """images -> (real/fake score [N], Q's code estimates [N, code_dim]): the Q head shares the
    discriminator's body, so reading the codes back costs one small layer (Chen et al. 2016).
    Q answers logits for each categorical code and a mean for each continuous one.

    `arch` "paper-fc" adds the paper's shared fully connected layer (`fc_features`, batch-normed)
    after the convolutions and batch norm inside Q; "conv" reads both heads off the last map."""

    def __init__(self, code_dim: int = 12, channels: int = 1, image_size: int = 28, base_features: int = 64,
                 norm: str = "batch", q_features: int = 128, arch: str = "conv", fc_features: int = 1024):
        super().__init__()
        _check_infogan_arch(arch)
        self.trunk, width = _discriminator_trunk(channels, image_size, base_features, norm)
        start, _ = start_size(image_size)
        features = width * start * start
        if arch == "paper-fc":
            self.shared: nn.Module = nn.Sequential(nn.Flatten(), nn.Linear(features, fc_features, bias=False),
                                                   nn.BatchNorm1d(fc_features), nn.LeakyReLU(0.2, inplace=True))
            features = fc_features
            q_norm: list[nn.Module] = [nn.BatchNorm1d(q_features)]
        else:
            self.shared, q_norm = nn.Flatten(), []
        self.head = nn.Linear(features, 1)
        self.q = nn.Sequential(nn.Linear(features, q_features, bias=not q_norm), *q_norm,
                               nn.LeakyReLU(0.2, inplace=True), nn.Linear(q_features, code_dim))
        self.apply(weights_init)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.shared(self.trunk(images))
        return self.head(h).flatten(), self.q(h)
