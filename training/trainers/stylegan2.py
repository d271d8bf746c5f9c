"""The StyleGAN2 trainer: non-saturating logistic loss, lazy R1 on reals, optional path-length
regularisation, style-mixing regularisation, a moving average of the generator and the tracked
average of w, on the shared loop (training/trainers/loop.py).

Lazy regularisation (Karras et al. 2020, section 3.1): a penalty computed every k steps is scaled
by k, and Adam's rate and betas are adjusted by k / (k + 1) so the optimizer sees the same
average step. Everything a step draws comes from generators seeded by (seed, step), so a resumed
run equals an uninterrupted one (on the same kind of device).

Device: the dataset goes to the run's device once, as one tensor, and batches are drawn from it
by index; noise is drawn on the device; forward passes and losses run in the run's precision
(training/trainers/device.py). R1 and the path-length penalty take their input gradients the way
AMP prescribes for penalties (`runtime.input_gradients`: of the scaled output, then unscaled),
through the eager modules (a compiled graph takes no double backward), and their norms in fp32.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from training.data.datasets import Dataset
from training.families.stylegan2 import StyleGAN2Hyperparameters
from training.trainers.device import Runtime
from training.trainers.diffaugment import diff_augment
from training.trainers.loop import Callbacks, StepReport, TrainingLoop
from training.trainers.schedule import BatchSchedule, derived_seed

ARCHITECTURE = "stylegan2_generator"


class StyleGAN2Config(StyleGAN2Hyperparameters):
    """Everything that decides a StyleGAN2 run, apart from the data."""

    steps: int = Field(2000, ge=0, description="Generator updates.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, batches and noise.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")


@dataclass
class StyleTrainResult:
    generator: StyleGAN2Generator  # the averaged one, eval mode
    architecture_config: dict
    class_names: list[str]
    step: int
    aborted: bool
    losses: dict[str, float] = field(default_factory=dict)


class PathLengthMean(nn.Module):
    """The running mean of path lengths, a module so checkpoints carry it."""

    def __init__(self):
        super().__init__()
        self.register_buffer("value", torch.zeros(()))


def generator_config(config: StyleGAN2Config, dataset: Dataset) -> dict:
    return {
        "latent_dim": config.latent_dim, "w_dim": config.w_dim, "mapping_layers": config.mapping_layers,
        "image_size": dataset.image_size, "channels": dataset.channels,
        "num_classes": dataset.num_classes if config.conditional else 0,
        "base_channels": config.base_channels, "max_channels": config.max_channels,
    }


def lazy_adam(params, config: StyleGAN2Config, every: int) -> torch.optim.Adam:
    ratio = every / (every + 1) if every > 1 else 1.0
    return torch.optim.Adam(params, lr=config.lr * ratio, betas=(config.beta1 ** ratio, config.beta2 ** ratio))


def train_stylegan2(config: StyleGAN2Config, dataset: Dataset, *, checkpoint_dir: Path | None = None,
                    device: str | torch.device = "cpu", **callbacks: Unpack[Callbacks]) -> StyleTrainResult:
    """Train for `config.steps` steps on `device` (resuming from `checkpoint_dir` when it holds one)."""
    if dataset.image_size < 4 or dataset.image_size & (dataset.image_size - 1):
        raise ValueError(f"StyleGAN2 needs a power-of-two image size (8, 16, 32, 64); {dataset.name!r} is "
                         f"{dataset.image_size} px: set image_size")
    if config.conditional and dataset.num_classes < 2:
        raise ValueError(f"a conditional run needs at least 2 classes; {dataset.name!r} has {dataset.num_classes}")
    runtime = Runtime.of(config, device)
    on = runtime.device
    g_config = generator_config(config, dataset)
    num_classes = g_config["num_classes"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = StyleGAN2Generator(**g_config)
        discriminator = StyleGAN2Discriminator(dataset.image_size, dataset.channels, num_classes,
                                               config.base_channels, config.max_channels)
    pl_mean = PathLengthMean()
    pl_on = config.pl_weight > 0
    opt_g = lazy_adam(generator.parameters(), config, config.pl_every if pl_on else 1)
    opt_d = lazy_adam(discriminator.parameters(), config, config.r1_every if config.r1_gamma > 0 else 1)
    loop = TrainingLoop(config, {"generator": generator, "discriminator": discriminator, "pl_mean": pl_mean},
                        {"opt_g": opt_g, "opt_d": opt_d}, callbacks, checkpoint_dir=checkpoint_dir,
                        meta={"generator": ARCHITECTURE, "generator_config": g_config},
                        generator="generator", ema_decay=config.ema_decay, runtime=runtime)
    # Plain forward passes compiled when asked; the penalties' double backward goes through the
    # eager modules (generator.mapping / .synthesis, discriminator).
    run_mapping, run_synthesis = runtime.compiled(generator.mapping), runtime.compiled(generator.synthesis)
    run_d = runtime.compiled(discriminator)
    images, labels = runtime.images(dataset.images), torch.from_numpy(dataset.labels).to(on)
    schedule = BatchSchedule(len(dataset), config.batch_size, config.seed, on)
    layer_index = torch.arange(generator.num_ws, device=on)[None]

    def fake_batch(n: int, rng: torch.Generator, track: bool, mapping=generator.mapping, synthesis=generator.synthesis
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Generated images with style mixing; answers (images, ws, class labels). Call under autocast."""
        fake_labels = torch.randint(max(num_classes, 1), (n,), generator=rng, device=on) if num_classes else None
        z = torch.randn(n, config.latent_dim, generator=rng, device=on)
        w = mapping(z, fake_labels)
        if track:
            generator.track_w_avg(w.float(), config.w_avg_beta)
        ws = w[:, None].repeat(1, generator.num_ws, 1)
        if config.style_mixing_prob > 0:
            # Mixed where drawn, without asking the device whether any sample was (no host sync).
            mixing = torch.rand(n, generator=rng, device=on) < config.style_mixing_prob
            w2 = mapping(torch.randn(n, config.latent_dim, generator=rng, device=on), fake_labels)
            cut = torch.randint(1, generator.num_ws, (n,), generator=rng, device=on)
            later = (layer_index >= cut[:, None]) & mixing[:, None]
            ws = torch.where(later[:, :, None], w2[:, None].to(ws.dtype), ws)
        noise = generator.synthesis.random_noise(n, rng)
        return synthesis(ws, *noise), ws, fake_labels

    def scores(batch: torch.Tensor, batch_labels, rng: torch.Generator, critic=run_d) -> torch.Tensor:
        """The discriminator's scores in fp32, of the augmented batch. Call under autocast."""
        return critic(diff_augment(batch, config.diffaugment, rng), batch_labels).float()

    def train_step(step: int) -> StepReport:
        rng = runtime.generator(derived_seed(config.seed, "noise", step))
        index = schedule.indices(step)
        real = images[index]
        real_labels = labels[index] if num_classes else None
        n = len(index)
        losses: dict[str, torch.Tensor] = {}  # detached, read by the loop in one transfer

        # One generated batch serves both updates (the discriminator sees it detached), as in the
        # DCGAN trainer: a synthesis pass is the dearest part of a step.
        with runtime.autocast():
            fake, _, fake_labels = fake_batch(n, rng, track=True, mapping=run_mapping, synthesis=run_synthesis)
            # Discriminator: logistic loss, and R1 on the reals every r1_every steps.
            real_scores, fake_scores = scores(real, real_labels, rng), scores(fake.detach(), fake_labels, rng)
            loss_d = F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()
        if config.r1_gamma > 0 and step % config.r1_every == 0:
            real_r1 = real.detach().requires_grad_(True)
            with runtime.autocast():
                r1_scores = scores(real_r1, real_labels, rng, critic=discriminator)
            (grad,) = runtime.input_gradients(r1_scores, real_r1)
            r1 = grad.float().square().sum(dim=(1, 2, 3)).mean()
            loss_d = loss_d + r1 * (config.r1_gamma / 2) * config.r1_every
            losses["r1"] = r1.detach()
        runtime.minimize(loss_d, opt_d)

        # Generator: non-saturating loss; path-length regularisation every pl_every steps.
        with runtime.autocast():
            loss_g = F.softplus(-scores(fake, fake_labels, rng)).mean()
        if pl_on and step % config.pl_every == 0:
            with runtime.autocast():
                pl_images, pl_ws, _ = fake_batch(max(n // 2, 1), rng, track=False)
            side = pl_images.shape[2] * pl_images.shape[3]
            probe = torch.randn(pl_images.shape, generator=rng, device=on) / math.sqrt(side)
            (grad,) = runtime.input_gradients(pl_images.float() * probe, pl_ws)
            lengths = grad.float().square().sum(dim=2).mean(dim=1).sqrt()
            with torch.no_grad():
                # An overflowed fp16 gradient (its step is skipped) must not poison the running mean.
                mean = lengths.mean()
                pl_mean.value.copy_(torch.where(mean.isfinite(), pl_mean.value.lerp(mean, 0.01), pl_mean.value))
            penalty = (lengths - pl_mean.value).square().mean()
            loss_g = loss_g + penalty * config.pl_weight * config.pl_every
            losses["pl"] = penalty.detach()
        runtime.minimize(loss_g, opt_g)
        losses.update({"d": loss_d.detach(), "g": loss_g.detach(), "d_real": torch.sigmoid(real_scores).mean().detach(),
                       "d_fake": torch.sigmoid(fake_scores).mean().detach()})
        return StepReport(losses, n)

    outcome = loop.run(train_step)
    final = loop.final_generator()
    final.w_avg.copy_(generator.w_avg)  # the tracked average belongs to the trained mapping
    return StyleTrainResult(
        generator=final, architecture_config=g_config, class_names=list(dataset.class_names) if num_classes else [],
        step=outcome.step, aborted=outcome.aborted, losses=outcome.losses,
    )
