"""The DCGAN trainer: one explicit loop, plain or class-conditional, for every loss family.

Defaults follow the DCGAN paper and pytorch/examples: Adam at 2e-4 with betas (0.5, 0.999),
N(0, 0.02) initialisation, discriminator then generator on every step, and the non-saturating
generator loss. The config picks the loss (non-saturating, LSGAN, WGAN-GP, hinge), how many
critic updates come before each generator update, a gradient penalty, and DiffAugment.
The shared loop (training/trainers/loop.py) runs the steps: callbacks, checkpoints and resume, the
generator's moving average, batch-norm recalibration of the exported generator.

Determinism: the batch and the noise of critic update `i` of step `s` are drawn from
generators seeded by (seed, s, i) alone, so a run resumed at step s sees exactly what an
uninterrupted run would (on the same kind of device).

Device: the dataset goes to the run's device once, as one tensor, and batches are drawn from it
by index; noise is drawn on the device; forward passes and losses run in the run's precision
(training/trainers/device.py).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

import torch
from pydantic import Field
from torch import nn

from models.architectures import build
from models.dcgan import default_attention_side
from models.manifest import GeneratorSignature
from training.data.datasets import Dataset
from training.families.dcgan import DCGANHyperparameters
from training.trainers.device import Runtime
from training.trainers.diffaugment import diff_augment
from training.trainers.loop import Callbacks, StepReport, TrainingLoop
from training.trainers.losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
)
from training.trainers.schedule import BatchSchedule, derived_seed


class DCGANConfig(DCGANHyperparameters):
    """Everything that decides a DCGAN run, apart from the data."""

    conditional: bool = Field(True, description="Condition generator and discriminator on the class label.")
    steps: int = Field(3000, ge=0, description="Generator updates, each after `critic_steps` discriminator updates.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, batches and noise.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")


@dataclass
class TrainResult:
    """What a run produced: the generator to export (the EMA one when enabled), in eval mode."""

    generator: nn.Module
    conditional: bool
    architecture: str
    architecture_config: dict
    class_names: list[str]
    channels: int
    image_size: int
    step: int
    aborted: bool
    losses: dict[str, float] = field(default_factory=dict)

    def signature(self) -> GeneratorSignature:
        return GeneratorSignature(
            latent_dim=self.architecture_config["latent_dim"],
            num_classes=len(self.class_names) if self.conditional else 0,
            class_names=self.class_names if self.conditional else [],
            image_size=self.image_size,
            channels=self.channels,
            inputs=["z", "labels"] if self.conditional else ["z"],
        )


def network_specs(config: DCGANConfig, dataset: Dataset) -> tuple[str, dict, str, dict]:
    """(generator name, its config, discriminator name, its config) for a run on `dataset`."""
    shape = {"channels": dataset.channels, "image_size": dataset.image_size, "base_features": config.base_features}
    if config.self_attention:
        shape["attention_at"] = config.attention_at or default_attention_side(dataset.image_size)
    critic = {"norm": config.d_norm, "spectral_norm": config.spectral_norm}
    if config.conditional:
        classes = {"num_classes": dataset.num_classes}
        return (
            "cdcgan_generator",
            {"latent_dim": config.latent_dim, "embed_dim": config.embed_dim, **classes, **shape},
            "cdcgan_discriminator",
            {**classes, **shape, **critic},
        )
    return "dcgan_generator", {"latent_dim": config.latent_dim, **shape}, "dcgan_discriminator", {**shape, **critic}


def train_dcgan(
    config: DCGANConfig,
    dataset: Dataset,
    *,
    checkpoint_dir: Path | None = None,
    device: str | torch.device = "cpu",
    **callbacks: Unpack[Callbacks],
) -> TrainResult:
    """Train for `config.steps` steps on `device` (resuming from `checkpoint_dir` when it holds one).

    The callbacks are the shared loop's (training/trainers/loop.py); `sample_fn(step, generator)` gets the
    generator to sample from (the EMA one when enabled): sample from a copy in train mode.
    An abort saves a checkpoint (if checkpointing) and returns with `aborted=True`.
    """
    if config.conditional and dataset.num_classes < 2:
        raise ValueError(f"a conditional run needs at least 2 classes; {dataset.name!r} has {dataset.num_classes}")
    runtime = Runtime.of(config, device)
    g_name, g_config, d_name, d_config = network_specs(config, dataset)
    with torch.random.fork_rng(devices=[]):  # seed the initialisation without touching the caller's RNG
        torch.manual_seed(config.seed)
        generator, discriminator = build(g_name, **g_config), build(d_name, **d_config)
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas)
    loop = TrainingLoop(config, {"generator": generator, "discriminator": discriminator},
                        {"opt_g": opt_g, "opt_d": opt_d}, callbacks, checkpoint_dir=checkpoint_dir,
                        meta={"generator": g_name, "generator_config": g_config},
                        generator="generator", ema_decay=config.ema_decay, runtime=runtime)
    run_g, run_d = runtime.compiled(generator), runtime.compiled(discriminator)

    images, labels = runtime.images(dataset.images), torch.from_numpy(dataset.labels).to(runtime.device)
    schedule = BatchSchedule(len(dataset), config.batch_size, config.seed, runtime.device)
    real_target = 1.0 - config.label_smoothing

    def train_step(step: int) -> StepReport:
        for critic_index in range(config.critic_steps):
            counter = step * config.critic_steps + critic_index  # one real batch per critic update
            noise = runtime.generator(derived_seed(config.seed, "noise", counter))
            index = schedule.indices(counter)
            real, real_labels = images[index], labels[index]
            n = len(index)
            z = torch.randn(n, config.latent_dim, generator=noise, device=runtime.device)
            # Drawn even when unconditional (then unused), so both kinds consume the noise alike.
            fake_labels = torch.randint(max(dataset.num_classes, 1), (n,), generator=noise, device=runtime.device)
            # Labels go in only when conditional, so one loop serves both families.
            g_args = (fake_labels,) if config.conditional else ()
            real_args = (real_labels,) if config.conditional else ()

            # The generator step reuses the last critic update's fakes, so only they need a graph.
            generating = critic_index == config.critic_steps - 1
            with runtime.autocast():
                with torch.set_grad_enabled(generating):
                    fake = run_g(z, *g_args)
                # The same DiffAugment policy on both, fresh draws for each batch (Zhao et al. 2020).
                real_seen = diff_augment(real, config.diffaugment, noise)
                fake_seen = diff_augment(fake.detach(), config.diffaugment, noise)
                real_scores = run_d(real_seen, *real_args).float()
                fake_scores = run_d(fake_seen, *g_args).float()
                loss_d = discriminator_loss(config.loss, real_scores, fake_scores, real_target)
            penalty = None
            if config.gp_lambda > 0:
                # On the images the critic saw, the augmented ones, with the real labels. Through
                # the eager module: compiled graphs do not take a double backward.
                penalty = gradient_penalty(discriminator, real_seen, fake_seen, *real_args,
                                           weight=config.gp_lambda, generator=noise, runtime=runtime)
                loss_d = loss_d + penalty
            runtime.minimize(loss_d, opt_d)

        with runtime.autocast():
            loss_g = generator_loss(config.loss, run_d(diff_augment(fake, config.diffaugment, noise), *g_args).float())
        runtime.minimize(loss_g, opt_g)
        # Images per generator step, so that steps left / rate is the time left.
        return StepReport(_reported_losses(config.loss, loss_d, loss_g, real_scores, fake_scores, penalty), n)

    outcome = loop.run(train_step)
    num_classes = dataset.num_classes if config.conditional else 0

    def noise_batch(rng: torch.Generator) -> tuple[torch.Tensor, ...]:
        z = torch.randn(config.batch_size, config.latent_dim, generator=rng)
        return (z, torch.randint(num_classes, (config.batch_size,), generator=rng)) if num_classes else (z,)

    return TrainResult(
        generator=loop.final_generator(noise_batch),
        conditional=config.conditional,
        architecture=g_name,
        architecture_config=g_config,
        class_names=list(dataset.class_names),
        channels=dataset.channels,
        image_size=dataset.image_size,
        step=outcome.step,
        aborted=outcome.aborted,
        losses=outcome.losses,
    )


def _reported_losses(
    kind: str, loss_d: torch.Tensor, loss_g: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, penalty
) -> dict[str, torch.Tensor]:
    """The numbers a person watches for each loss, from the last critic update of a step.

    d_real and d_fake are probabilities under the non-saturating loss and raw scores otherwise;
    WGAN-GP reports its Wasserstein estimate, E[D(real)] - E[D(fake)], instead.
    """
    losses = {"d": loss_d.detach(), "g": loss_g.detach()}  # read by the loop in one transfer
    if kind == "wgan_gp":
        losses["wasserstein"] = (real.mean() - fake.mean()).detach()
    else:
        squash = torch.sigmoid if kind == "non_saturating" else (lambda scores: scores)
        losses["d_real"], losses["d_fake"] = squash(real).mean().detach(), squash(fake).mean().detach()
    if penalty is not None:
        losses["gp"] = penalty.detach()
    return losses
