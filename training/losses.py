"""GAN losses on raw discriminator logits (BCE-with-logits is the numerically stable form)."""

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy: real images towards `real_target`, generated ones towards 0.

    A `real_target` below 1 (e.g. 0.9) is one-sided label smoothing: it keeps the
    discriminator from growing overconfident on real images, and is never applied to fakes.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating loss, -log D(G(z)): strong gradients while D still wins easily."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
