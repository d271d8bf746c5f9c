"""The CycleGAN trainer (Zhu et al., 2017): unpaired domains A and B, one explicit loop.

G_ab: A -> B and G_ba: B -> A are ResNet generators with instance norm; D_b tells real B from
G_ab(a), D_a real A from G_ba(b), both PatchGANs. Generator loss: LSGAN + lambda_cycle (10) x
(|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|) + lambda_identity (0.5) x lambda_cycle x
(|G_ab(b) - b| + |G_ba(a) - a|) (identity only where A and B have the same channels).
Each discriminator sees a fake drawn through a 50-image history pool and its loss is halved.
Adam 2e-4 (0.5, 0.999); constant learning rate, then linear decay to 0 over the second half.

The shared loop (training/trainers/loop.py) runs the steps: callbacks (`sample_fn(step, generators)`
gets {"a2b": G_ab, "b2a": G_ba}), checkpoints and resume. Deterministic: the batches, the pool's choices and the pool's contents (saved in each checkpoint) depend on the
seed and the step alone.
"""

import copy
from pathlib import Path
from typing import Unpack

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.architectures import build
from models.cyclegan import ResnetGenerator
from training.families.cyclegan import CycleGANHyperparameters
from training.trainers.loop import Callbacks, StepReport, TrainingLoop
from training.trainers.pix2pix import (
    TranslationResult,
    TranslationRun,
    gan_loss,
    linear_decay,
)
from training.trainers.schedule import BatchSchedule, derived_seed


class CycleGANConfig(CycleGANHyperparameters, TranslationRun):
    """Everything that decides a CycleGAN run, apart from the data."""


class ImagePool(nn.Module):
    """The history of generated images (Shrivastava et al. 2017): until it is full, every image
    goes in and comes back out; then each image is, with probability 1/2, swapped for a random
    stored one (which it replaces). Its contents are buffers, so checkpoints carry them."""

    def __init__(self, size: int, shape: tuple[int, int, int]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def query(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images:
            count = int(self.count)
            if count < self.size:
                self.images[count] = image
                self.count += 1
                out.append(image)
            elif torch.rand((), generator=rng) > 0.5:
                index = int(torch.randint(self.size, (), generator=rng))
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)


def cyclegan_networks(config: CycleGANConfig) -> tuple[str, dict, dict, dict, dict]:
    """(generator name, G_ab config, G_ba config, D_a config, D_b config)."""
    g = {"ngf": config.ngf, "norm": config.norm}
    d = {"ndf": config.ndf, "n_layers": config.n_layers_d, "norm": config.norm}
    return (
        config.generator,
        {"channels_in": config.channels_a, "channels_out": config.channels_b, **g},
        {"channels_in": config.channels_b, "channels_out": config.channels_a, **g},
        {"channels": config.channels_a, **d},
        {"channels": config.channels_b, **d},
    )


def train_cyclegan(
    config: CycleGANConfig,
    domain_a: np.ndarray,
    domain_b: np.ndarray,
    *,
    checkpoint_dir: Path | None = None,
    **callbacks: Unpack[Callbacks],
) -> TranslationResult:
    """Train both directions on unpaired images (float32 [N, C, H, W] in [-1, 1] at
    config.image_size; the two domains may differ in size) for config.steps steps."""
    if len(domain_a) == 0 or len(domain_b) == 0:
        raise ValueError(f"CycleGAN needs images in both domains: A has {len(domain_a)}, B has {len(domain_b)}")
    if config.image_size % ResnetGenerator.size_multiple:
        raise ValueError(f"the ResNet generator needs sides that are multiples of 4; image_size is {config.image_size}")
    g_name, g_ab_config, g_ba_config, d_a_config, d_b_config = cyclegan_networks(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        g_ab, g_ba = build(g_name, **g_ab_config), build(g_name, **g_ba_config)
        d_a = build("patchgan_discriminator", **d_a_config)
        d_b = build("patchgan_discriminator", **d_b_config)
    size = config.image_size
    pool_a = ImagePool(config.pool_size, (config.channels_a, size, size))
    pool_b = ImagePool(config.pool_size, (config.channels_b, size, size))
    betas = (config.beta1, config.beta2)
    optimizers = {
        "opt_g": torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=config.lr, betas=betas),
        "opt_d": torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=config.lr, betas=betas),
    }
    modules = {"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b, "pool_a": pool_a, "pool_b": pool_b}
    loop = TrainingLoop(config, modules, optimizers, callbacks, checkpoint_dir=checkpoint_dir,
                        meta={"family": "cyclegan"}, learning_rates=lambda step: linear_decay(config, step))

    a_all, b_all = torch.from_numpy(domain_a), torch.from_numpy(domain_b)
    schedule_a = BatchSchedule(len(domain_a), config.batch_size, config.seed)
    schedule_b = BatchSchedule(len(domain_b), config.batch_size, config.seed + 1)
    identity = config.lambda_identity > 0 and config.channels_a == config.channels_b

    def train_step(step: int) -> StepReport:
        pool_rng = torch.Generator().manual_seed(derived_seed(config.seed, "pool", step))
        real_a = a_all[schedule_a.indices(step)]
        real_b = b_all[schedule_b.indices(step)]
        n = min(len(real_a), len(real_b))
        real_a, real_b = real_a[:n], real_b[:n]

        # Generators: the discriminators' gradients from this pass are cleared before their own step.
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
        loss_gan_ab = gan_loss(d_b(fake_b), True, config.gan_loss)
        loss_gan_ba = gan_loss(d_a(fake_a), True, config.gan_loss)
        loss_cycle_a = F.l1_loss(rec_a, real_a)
        loss_cycle_b = F.l1_loss(rec_b, real_b)
        loss_g = loss_gan_ab + loss_gan_ba + config.lambda_cycle * (loss_cycle_a + loss_cycle_b)
        if identity:
            loss_idt = F.l1_loss(g_ab(real_b), real_b) + F.l1_loss(g_ba(real_a), real_a)
            loss_g = loss_g + config.lambda_cycle * config.lambda_identity * loss_idt
        optimizers["opt_g"].zero_grad(set_to_none=True)
        loss_g.backward()
        optimizers["opt_g"].step()

        # Discriminators, on fakes through the history pools.
        optimizers["opt_d"].zero_grad(set_to_none=True)
        pooled_b = pool_b.query(fake_b.detach(), pool_rng)
        pooled_a = pool_a.query(fake_a.detach(), pool_rng)
        loss_d_b = 0.5 * (gan_loss(d_b(real_b), True, config.gan_loss) + gan_loss(d_b(pooled_b), False, config.gan_loss))
        loss_d_a = 0.5 * (gan_loss(d_a(real_a), True, config.gan_loss) + gan_loss(d_a(pooled_a), False, config.gan_loss))
        (loss_d_a + loss_d_b).backward()
        optimizers["opt_d"].step()

        losses = {"d_a": loss_d_a.item(), "d_b": loss_d_b.item(), "g_ab": loss_gan_ab.item(),
                  "g_ba": loss_gan_ba.item(), "cycle_a": loss_cycle_a.item(), "cycle_b": loss_cycle_b.item()}
        if identity:
            losses["identity"] = loss_idt.item()
        return StepReport(losses, 2 * n)  # n images of each domain

    outcome = loop.run(train_step, nets=lambda: {"a2b": g_ab, "b2a": g_ba})
    return TranslationResult(
        family="cyclegan", generators={"a2b": copy.deepcopy(g_ab).eval(), "b2a": copy.deepcopy(g_ba).eval()},
        architecture=g_name, architecture_configs={"a2b": g_ab_config, "b2a": g_ba_config},
        size_multiple=ResnetGenerator.size_multiple, image_size=size,
        channels={"A": config.channels_a, "B": config.channels_b}, step=outcome.step, aborted=outcome.aborted,
        losses=outcome.losses,
    )
