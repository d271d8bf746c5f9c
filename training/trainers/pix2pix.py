"""The pix2pix trainer (Isola et al., 2017): paired images, one explicit loop.

U-Net generator, PatchGAN discriminator on the concatenated (input, output) pair, the vanilla
GAN loss plus lambda_L1 (100) x L1 to the target, Adam 2e-4 (0.5, 0.999), discriminator loss
halved, learning rate constant then linearly decayed to 0 (training/trainers/schedule.py).
No random jitter or flips: the bundled tasks are aligned 32x32 digits, where a shifted or
mirrored pair teaches nothing the model needs.

The shared loop (training/trainers/loop.py) runs the steps: callbacks (`sample_fn(step, generators)`
gets {"a2b": G}), safetensors checkpoints and resume, batch-norm recalibration of the export.
Deterministic: the batch of step s depends on (seed, s) alone, and the learning rate is a
function of the step, so a resumed run matches an uninterrupted one (on the same kind of device).

Device: both sides of the pairs go to the run's device once, as tensors, and batches are drawn
from them by index; forward passes and losses run in the run's precision, the scores in fp32
(training/trainers/device.py); losses are reported as device tensors, read once per step.

The helpers the CycleGAN trainer shares (result type, GAN loss) live here too.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from torch import nn

from models.architectures import build
from models.manifest import TranslationDirection, TranslatorSignature
from models.pix2pix import UNET_LEVELS, unet_for_size
from training.families.pix2pix import Pix2PixHyperparameters
from training.trainers.device import Runtime
from training.trainers.loop import Callbacks, StepReport, TrainingLoop
from training.trainers.schedule import BatchSchedule, learning_rate_factor

if TYPE_CHECKING:
    from training.trainers.cyclegan import CycleGANConfig


class TranslationRun(BaseModel):
    """The fields of one pix2pix or CycleGAN run beside its hyperparameters."""

    steps: int = Field(1000, ge=0, description="Optimizer steps of the generator(s).")
    seed: int = Field(0, ge=0, description="Seeds initialisation, batches, augmentation and the image pool.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")
    image_size: int = Field(256, ge=8, le=1024, description="Square training size.")
    channels_a: int = Field(3, description="Channels of domain A: 1 or 3.")
    channels_b: int = Field(3, description="Channels of domain B: 1 or 3.")


class Pix2PixConfig(Pix2PixHyperparameters, TranslationRun):
    """Everything that decides a pix2pix run, apart from the data."""


@dataclass
class TranslationResult:
    """What a run produced: one generator per direction, in eval mode."""

    family: str
    generators: dict[str, nn.Module]  # "a2b", and "b2a" for CycleGAN
    architecture: str
    architecture_configs: dict[str, dict]
    size_multiple: int
    image_size: int
    channels: dict[str, int]  # {"A": 1, "B": 3}
    step: int
    aborted: bool
    losses: dict[str, float] = field(default_factory=dict)

    def signature(self, domains: dict[str, str] | None = None) -> TranslatorSignature:
        files = {"a2b": "model.onnx", "b2a": "b2a.onnx"}
        ends = {"a2b": ("A", "B"), "b2a": ("B", "A")}
        return TranslatorSignature(
            image_size=self.image_size,
            size_multiple=self.size_multiple,
            directions={
                d: TranslationDirection(onnx_file=files[d], channels_in=self.channels[ends[d][0]],
                                        channels_out=self.channels[ends[d][1]])
                for d in self.generators
            },
            domains=domains or {},
        )


def gan_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    """vanilla: BCE on logits; lsgan: mean squared distance to 1 (real) or 0 (fake)."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    raise ValueError(f"unknown GAN loss {kind!r}")


def linear_decay(config: "Pix2PixConfig | CycleGANConfig", step: int) -> dict[str, float]:
    """Both optimizers' learning rate at `step`: constant, then linearly down to 0 (pix2pix and CycleGAN)."""
    lr = config.lr * learning_rate_factor(step, config.steps, config.decay_fraction)
    return {"opt_g": lr, "opt_d": lr}


def pix2pix_networks(config: Pix2PixConfig) -> tuple[str, dict, dict]:
    """(generator name, generator config, discriminator config)."""
    g_name = unet_for_size(config.image_size) if config.generator == "auto" else config.generator
    g_config = {"channels_in": config.channels_a, "channels_out": config.channels_b, "ngf": config.ngf,
                "norm": config.norm, "use_dropout": config.use_dropout}
    d_config = {"channels": config.channels_a + config.channels_b, "ndf": config.ndf, "n_layers": config.n_layers_d,
                "norm": config.norm}
    return g_name, g_config, d_config


def train_pix2pix(
    config: Pix2PixConfig,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    checkpoint_dir: Path | None = None,
    device: str | torch.device = "cpu",
    **callbacks: Unpack[Callbacks],
) -> TranslationResult:
    """Train G: A -> B on pairs (row i of `inputs` with row i of `targets`, float32 [N, C, H, W]
    in [-1, 1] at config.image_size) for config.steps steps on `device`, resuming from
    `checkpoint_dir`. The exported generator is on the host."""
    if len(inputs) != len(targets) or len(inputs) == 0:
        raise ValueError(f"pix2pix needs pairs: {len(inputs)} inputs and {len(targets)} targets")
    g_name, g_config, d_config = pix2pix_networks(config)
    multiple = 2 ** UNET_LEVELS[g_name]
    if config.image_size % multiple:
        raise ValueError(f"{g_name} needs sides that are multiples of {multiple}; image_size is {config.image_size}")
    runtime = Runtime.of(config, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = build(g_name, **g_config)
        discriminator = build("patchgan_discriminator", **d_config)
    betas = (config.beta1, config.beta2)
    optimizers = {
        "opt_g": torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas),
        "opt_d": torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=betas),
    }
    loop = TrainingLoop(config, {"generator": generator, "discriminator": discriminator}, optimizers, callbacks,
                        checkpoint_dir=checkpoint_dir, meta={"family": "pix2pix"}, generator="generator",
                        learning_rates=lambda step: linear_decay(config, step), runtime=runtime)
    run_g, run_d = runtime.compiled(generator), runtime.compiled(discriminator)

    a_all, b_all = runtime.images(inputs), runtime.images(targets)
    schedule = BatchSchedule(len(inputs), config.batch_size, config.seed, runtime.device)

    def train_step(step: int) -> StepReport:
        index = schedule.indices(step)
        real_a, real_b = a_all[index], b_all[index]
        with runtime.autocast():
            fake_b = run_g(real_a)
            pred_fake = run_d(torch.cat([real_a, fake_b.detach()], 1)).float()
            pred_real = run_d(torch.cat([real_a, real_b], 1)).float()
            loss_d_fake = gan_loss(pred_fake, False, config.gan_loss)
            loss_d_real = gan_loss(pred_real, True, config.gan_loss)
            loss_d = 0.5 * (loss_d_fake + loss_d_real)
        runtime.minimize(loss_d, optimizers["opt_d"])

        with runtime.autocast():
            loss_g_gan = gan_loss(run_d(torch.cat([real_a, fake_b], 1)).float(), True,
                                  config.gan_loss)
            loss_g_l1 = F.l1_loss(fake_b.float(), real_b)
            loss_g = loss_g_gan + config.lambda_l1 * loss_g_l1
        runtime.minimize(loss_g, optimizers["opt_g"])
        # Detached device tensors: the loop reads them in one transfer.
        losses = {"d": loss_d.detach(), "d_real": loss_d_real.detach(), "d_fake": loss_d_fake.detach(),
                  "g_gan": loss_g_gan.detach(), "g_l1": loss_g_l1.detach()}
        return StepReport(losses, len(index))

    outcome = loop.run(train_step, nets=lambda: {"a2b": generator})
    a_host = torch.from_numpy(inputs)  # the recalibration runs on the host copy of the generator
    size = max(2, min(config.batch_size, len(a_host)))

    def training_inputs(rng: torch.Generator) -> tuple[torch.Tensor]:
        return (a_host[torch.randint(len(a_host), (size,), generator=rng)],)

    return TranslationResult(
        family="pix2pix", generators={"a2b": loop.final_generator(training_inputs)}, architecture=g_name,
        architecture_configs={"a2b": g_config}, size_multiple=multiple, image_size=config.image_size,
        channels={"A": config.channels_a, "B": config.channels_b}, step=outcome.step, aborted=outcome.aborted,
        losses=outcome.losses,
    )
