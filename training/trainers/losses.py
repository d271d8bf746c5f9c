"""Adversarial losses on raw discriminator scores, and the WGAN-GP gradient penalty.

Scores are logits for the non-saturating loss (BCE-with-logits is the numerically stable
form) and unbounded real numbers for the others. `kind` is a `training.families.dcgan.Loss`.
"""

import torch
import torch.nn.functional as F
from torch import nn

from training.trainers.device import Runtime


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """The discriminator's (or critic's) loss on the scores of a real and a generated batch.

    A `real_target` below 1 (e.g. 0.9) is one-sided label smoothing (Salimans et al. 2016): it
    keeps the discriminator from growing overconfident on real images, and is never applied to
    fakes. It only means something for the losses with targets, non_saturating and lsgan.
    """
    match kind:
        case "non_saturating":  # binary cross-entropy: real towards real_target, fake towards 0
            real_loss = F.binary_cross_entropy_with_logits(real, torch.full_like(real, real_target))
            return real_loss + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        case "lsgan":  # Mao et al. 2017, eq. 2 with a = 0, b = 1 (the 0-1 coding)
            return 0.5 * ((real - real_target) ** 2).mean() + 0.5 * (fake**2).mean()
        case "hinge":  # Lim & Ye 2017: no gradient once a score is past its margin of 1
            return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
        case "wgan_gp":  # minus the Wasserstein estimate; the penalty is added by the trainer
            return fake.mean() - real.mean()
    raise ValueError(f"unknown loss {kind!r}")


def generator_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss on the discriminator's scores of its images."""
    match kind:
        case "non_saturating":  # -log D(G(z)): strong gradients while D still wins easily
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        case "lsgan":  # Mao et al. 2017, eq. 2 with c = 1
            return 0.5 * ((fake - 1.0) ** 2).mean()
        case "hinge" | "wgan_gp":  # raise the critic's score of the fakes
            return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(
    critic: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *critic_args: torch.Tensor,
    weight: float,
    generator: torch.Generator | None = None,
    runtime: Runtime | None = None,
) -> torch.Tensor:
    """weight * E[(||grad_x critic(x)|| - 1)^2] at random points x between real and fake images.

    Gulrajani et al. 2017, eq. 3: one uniform eps per image, x = eps * real + (1 - eps) * fake.
    A conditional critic is asked with `critic_args` (the trainer passes the real labels). The
    graph is kept, so the penalty trains the critic through its own input gradient. Under mixed
    precision the `runtime` takes the input gradient of the scaled scores and unscales it, and
    the norm is taken in fp32 (AMP's gradient-penalty recipe).
    """
    runtime = runtime or Runtime.for_run(real.device, "fp32")
    eps = torch.rand(len(real), *([1] * (real.dim() - 1)), generator=generator, dtype=torch.float32,
                     device=real.device)
    between = (eps * real.detach().float() + (1.0 - eps) * fake.detach().float()).requires_grad_(True)
    with runtime.autocast():
        scores = critic(between, *critic_args)
    (grad,) = runtime.input_gradients(scores.float(), between)
    return weight * ((grad.float().flatten(1).norm(dim=1) - 1.0) ** 2).mean()
