"""DiffAugment (Zhao et al. 2020): differentiable augmentations for GANs trained on little data.

The same policy is applied to real and generated images before the discriminator, and the
generator's gradient flows back through it, so the discriminator cannot memorise the few real
images while the generator is not taught to produce augmented ones. Every op draws its random
parameters per image from the `torch.Generator` it is given, on the images' device, so a seeded
run is reproducible.
The strengths are the paper's: brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5],
translation up to 1/8 of the side, a cutout square of half the side.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from training.families.shared import DIFFAUGMENT_OPS


def _uniform(n: int, low: float, high: float, generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """n uniform draws in [low, high), shaped [n, 1, 1, 1] to scale whole images."""
    return low + (high - low) * torch.rand(n, 1, 1, 1, generator=generator, dtype=like.dtype, device=like.device)


def color(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random brightness, then saturation, then contrast, each per image."""
    n = len(images)
    images = images + _uniform(n, -0.5, 0.5, generator, images)
    gray = images.mean(dim=1, keepdim=True)  # saturation is a no-op on one channel
    images = gray + (images - gray) * _uniform(n, 0.0, 2.0, generator, images)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (images - mean) * _uniform(n, 0.5, 1.5, generator, images)


def translation(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by a whole number of pixels in each direction, filling with zeros."""
    n, _, h, w = images.shape
    on = images.device
    pad_h, pad_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-pad_h, pad_h + 1, (n, 1), generator=generator, device=on)
    dx = torch.randint(-pad_w, pad_w + 1, (n, 1), generator=generator, device=on)
    padded = F.pad(images, [pad_w, pad_w, pad_h, pad_h])
    # Output pixel (i, j) of image k reads padded pixel (i + pad - dy, j + pad - dx): a gather,
    # so the gradient goes back to the pixels that were moved and not to those that fell off.
    rows = torch.arange(h, device=on)[None, :] + pad_h - dy  # [n, h]
    cols = torch.arange(w, device=on)[None, :] + pad_w - dx  # [n, w]
    batch = torch.arange(n, device=on)[:, None, None]
    moved = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # advanced indices first: [n, h, w, c]
    return moved.permute(0, 3, 1, 2)


def cutout(images: torch.Tensor, generator: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of side `ratio` times the image's at a random centre (it may overhang)."""
    n, _, h, w = images.shape
    on = images.device
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + 1, (n, 1), generator=generator, device=on) - size_h // 2
    left = torch.randint(0, w + 1, (n, 1), generator=generator, device=on) - size_w // 2
    rows, cols = torch.arange(h, device=on)[None, :], torch.arange(w, device=on)[None, :]
    in_rows = (rows >= top) & (rows < top + size_h)  # [n, h]
    in_cols = (cols >= left) & (cols < left + size_w)  # [n, w]
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return images * keep[:, None].to(images.dtype)


# The op names live once, in training.families.shared.DIFFAUGMENT_OPS (free of torch, so the API can check
# a policy); each is implemented by the function of that name above. A name without one fails here,
# at import, so the list and the implementations cannot drift apart.
OPS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    name: globals()[name] for name in DIFFAUGMENT_OPS
}


def diff_augment(images: torch.Tensor, policy: str, generator: torch.Generator) -> torch.Tensor:
    """Apply the ops of a comma-separated `policy` in order; an empty policy returns `images`."""
    for name in filter(None, policy.split(",")):
        images = OPS[name](images, generator)
    return images
