"""The CycleGAN trainer (Zhu et al., 2017): unpaired domains A and B, one explicit loop.

G_ab: A -> B and G_ba: B -> A are ResNet generators with instance norm; D_b tells real B from
G_ab(a), D_a real A from G_ba(b), both PatchGANs. Generator loss: LSGAN + lambda_cycle (10) x
(|G_ba(G_ab(a)) - a| + |G_ab(G_ba(b)) - b|) + lambda_identity (0.5) x lambda_cycle x
(|G_ab(b) - b| + |G_ba(a) - a|) (identity only where A and B have the same channels).
Each discriminator sees a fake drawn through a 50-image history pool and its loss is halved.
Adam 2e-4 (0.5, 0.999); constant learning rate, then linear decay to 0 over the second half.

The shared loop (training/trainers/loop.py) runs the steps: callbacks (`sample_fn(step, generators)`
gets {"a2b": G_ab, "b2a": G_ba}), checkpoints and resume. Deterministic: the batches, the pool's
choices and the pool's contents (saved in each checkpoint) depend on the seed and the step alone
(on the same kind of device).

Device: both domains go to the run's device once, as tensors, and batches are drawn from them by
index; the history pools are modules, so their images live on the device beside the networks,
and their random swaps are drawn there; forward passes and losses run in the run's precision,
the scores in fp32 (training/trainers/device.py). The exported generators are on the host.
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
from training.trainers.device import Runtime
from training.trainers.loop import Callbacks, StepReport, TrainingLoop, on_host
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
    stored one (which it replaces). Its contents are buffers, so checkpoints carry them, and
    they live wherever the module is placed (the run's device).

    A query never waits on the device: how full the pool is is mirrored on the host (read back
    once when a checkpoint is loaded), and a swap is a selection on the device between the image
    and a stored one, by coins and slots drawn from `rng` (a generator on the pool's device),
    one of each per image once the pool is full."""

    def __init__(self, size: int, shape: tuple[int, int, int]):
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, *shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self.filled = 0  # = int(self.count), kept on the host
        self.register_load_state_dict_post_hook(_reread_count)

    @torch.no_grad()
    def query(self, images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.size == 0:
            return images
        images = images.to(self.images.dtype)
        fresh = min(len(images), self.size - self.filled)  # these fill the pool: in they go, back they come
        if fresh > 0:
            self.images[self.filled : self.filled + fresh] = images[:fresh]
            self.filled += fresh
            self.count.fill_(self.filled)
        swaps = len(images) - fresh
        if swaps == 0:
            return images
        out = images.clone()
        coins = torch.rand(swaps, generator=rng, device=self.images.device) > 0.5
        slots = torch.randint(self.size, (swaps,), generator=rng, device=self.images.device)
        for j in range(swaps):  # one after the other: an image may take the slot an earlier one filled
            i = fresh + j
            image, slot, swap = images[i : i + 1], slots[j : j + 1], coins[j].view(1, 1, 1, 1)
            stored = self.images.index_select(0, slot)
            out[i : i + 1] = torch.where(swap, stored, image)
            self.images.index_copy_(0, slot, torch.where(swap, image, stored))
        return out


def _reread_count(pool: ImagePool, incompatible_keys) -> None:
    """After a checkpoint is loaded: how full the loaded pool is, read once."""
    pool.filled = int(pool.count)


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
    device: str | torch.device = "cpu",
    **callbacks: Unpack[Callbacks],
) -> TranslationResult:
    """Train both directions on unpaired images (float32 [N, C, H, W] in [-1, 1] at
    config.image_size; the two domains may differ in size) for config.steps steps on `device`.
    The exported generators are on the host."""
    if len(domain_a) == 0 or len(domain_b) == 0:
        raise ValueError(f"CycleGAN needs images in both domains: A has {len(domain_a)}, B has {len(domain_b)}")
    if config.image_size % ResnetGenerator.size_multiple:
        raise ValueError(f"the ResNet generator needs sides that are multiples of 4; image_size is {config.image_size}")
    g_name, g_ab_config, g_ba_config, d_a_config, d_b_config = cyclegan_networks(config)
    runtime = Runtime.of(config, device)
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
                        meta={"family": "cyclegan"}, learning_rates=lambda step: linear_decay(config, step),
                        runtime=runtime)
    run_g_ab, run_g_ba = runtime.compiled(g_ab), runtime.compiled(g_ba)
    run_d_a, run_d_b = runtime.compiled(d_a), runtime.compiled(d_b)

    a_all, b_all = runtime.images(domain_a), runtime.images(domain_b)
    schedule_a = BatchSchedule(len(domain_a), config.batch_size, config.seed, runtime.device)
    schedule_b = BatchSchedule(len(domain_b), config.batch_size, config.seed + 1, runtime.device)
    identity = config.lambda_identity > 0 and config.channels_a == config.channels_b

    def gan(scores: torch.Tensor, real: bool) -> torch.Tensor:
        return gan_loss(scores.float(), real, config.gan_loss)  # in fp32 whatever the precision

    def train_step(step: int) -> StepReport:
        pool_rng = runtime.generator(derived_seed(config.seed, "pool", step))
        real_a = a_all[schedule_a.indices(step)]
        real_b = b_all[schedule_b.indices(step)]
        n = min(len(real_a), len(real_b))
        real_a, real_b = real_a[:n], real_b[:n]

        # Generators: the discriminators' gradients from this pass are cleared before their own step.
        with runtime.autocast():
            fake_b, fake_a = run_g_ab(real_a), run_g_ba(real_b)
            rec_a, rec_b = run_g_ba(fake_b), run_g_ab(fake_a)
            loss_gan_ab = gan(run_d_b(fake_b), True)
            loss_gan_ba = gan(run_d_a(fake_a), True)
            loss_cycle_a = F.l1_loss(rec_a.float(), real_a)
            loss_cycle_b = F.l1_loss(rec_b.float(), real_b)
            loss_g = loss_gan_ab + loss_gan_ba + config.lambda_cycle * (loss_cycle_a + loss_cycle_b)
            if identity:
                loss_idt = F.l1_loss(run_g_ab(real_b).float(), real_b) + F.l1_loss(run_g_ba(real_a).float(), real_a)
                loss_g = loss_g + config.lambda_cycle * config.lambda_identity * loss_idt
        runtime.minimize(loss_g, optimizers["opt_g"])

        # Discriminators, on fakes through the history pools.
        pooled_b = pool_b.query(fake_b.detach(), pool_rng)
        pooled_a = pool_a.query(fake_a.detach(), pool_rng)
        with runtime.autocast():
            loss_d_b = 0.5 * (gan(run_d_b(real_b), True) + gan(run_d_b(pooled_b), False))
            loss_d_a = 0.5 * (gan(run_d_a(real_a), True) + gan(run_d_a(pooled_a), False))
        runtime.minimize(loss_d_a + loss_d_b, optimizers["opt_d"])

        # Detached device tensors: the loop reads them in one transfer.
        losses = {"d_a": loss_d_a.detach(), "d_b": loss_d_b.detach(), "g_ab": loss_gan_ab.detach(),
                  "g_ba": loss_gan_ba.detach(), "cycle_a": loss_cycle_a.detach(), "cycle_b": loss_cycle_b.detach()}
        if identity:
            losses["identity"] = loss_idt.detach()
        return StepReport(losses, 2 * n)  # n images of each domain

    outcome = loop.run(train_step, nets=lambda: {"a2b": g_ab, "b2a": g_ba})
    exported = {direction: on_host(copy.deepcopy(g)).eval() for direction, g in (("a2b", g_ab), ("b2a", g_ba))}
    return TranslationResult(
        family="cyclegan", generators=exported,
        architecture=g_name, architecture_configs={"a2b": g_ab_config, "b2a": g_ba_config},
        size_multiple=ResnetGenerator.size_multiple, image_size=size,
        channels={"A": config.channels_a, "B": config.channels_b}, step=outcome.step, aborted=outcome.aborted,
        losses=outcome.losses,
    )
