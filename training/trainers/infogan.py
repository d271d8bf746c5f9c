"""The InfoGAN trainer on the shared loop (training/trainers/loop.py).

Each step: the discriminator learns real from fake and, through its Q head, to read the codes
back from the fakes; the generator learns to fool it and to make its codes readable (the
variational lower bound of the mutual information: cross-entropy for categories, a Gaussian
with unit variance, i.e. squared error, for continuous codes). Draws come from generators seeded
by (seed, step), so a resumed run equals an uninterrupted one (on the same kind of device).

Device: the dataset goes to the run's device once, as one tensor, and batches are drawn from it
by index; noise and codes are drawn on the device; forward passes and losses run in the run's
precision (training/trainers/device.py).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Unpack

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from models.architectures import build
from models.inference.codes import code_width
from models.manifest import GeneratorSignature
from training.data.datasets import Dataset
from training.families.infogan import InfoGANHyperparameters
from training.trainers.device import Runtime
from training.trainers.loop import Callbacks, StepReport, TrainingLoop
from training.trainers.schedule import BatchSchedule, derived_seed

ARCHITECTURE = "infogan_generator"


class InfoGANConfig(InfoGANHyperparameters):
    steps: int = Field(3000, ge=0, description="Generator updates.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, batches and noise.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")


@dataclass
class InfoTrainResult:
    generator: nn.Module
    architecture_config: dict
    codes: list[dict]
    channels: int
    image_size: int
    step: int
    aborted: bool
    losses: dict[str, float] = field(default_factory=dict)

    architecture = ARCHITECTURE

    def signature(self) -> GeneratorSignature:
        return GeneratorSignature(latent_dim=self.architecture_config["latent_dim"], image_size=self.image_size,
                                  channels=self.channels, inputs=["z", "codes"], codes=self.codes)


def sample_codes(specs: list[dict], n: int, rng: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The codes input [n, width] and, per code, what Q should read back (an index or a value),
    drawn on `rng`'s device."""
    columns, targets = [], []
    for spec in specs:
        if spec["kind"] == "categorical":
            index = torch.randint(spec["size"], (n,), generator=rng, device=rng.device)
            columns.append(F.one_hot(index, spec["size"]).float())
            targets.append(index)
        else:
            value = torch.rand(n, generator=rng, device=rng.device) * 2 - 1
            columns.append(value[:, None])
            targets.append(value)
    return torch.cat(columns, dim=1), targets


def information_loss(q: torch.Tensor, specs: list[dict], targets: list[torch.Tensor],
                     config: InfoGANHyperparameters) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The weighted information loss, and its categorical and continuous parts (detached), in fp32."""
    q = q.float()
    start, categorical, continuous = 0, q.new_zeros(()), q.new_zeros(())
    for spec, target in zip(specs, targets):
        if spec["kind"] == "categorical":
            categorical = categorical + F.cross_entropy(q[:, start:start + spec["size"]], target)
            start += spec["size"]
        else:
            continuous = continuous + F.mse_loss(q[:, start], target)
            start += 1
    total = config.lambda_categorical * categorical + config.lambda_continuous * continuous
    return total, categorical.detach(), continuous.detach()


def train_infogan(config: InfoGANConfig, dataset: Dataset, *, checkpoint_dir: Path | None = None,
                  device: str | torch.device = "cpu", **callbacks: Unpack[Callbacks]) -> InfoTrainResult:
    """Train for `config.steps` steps on `device` (resuming from `checkpoint_dir` when it holds one)."""
    runtime = Runtime.of(config, device)
    specs = config.code_specs()
    width = code_width(specs)
    shape = {"channels": dataset.channels, "image_size": dataset.image_size, "base_features": config.base_features}
    if config.arch != "conv":  # conv models keep the config they were saved with
        shape |= {"arch": config.arch, "fc_features": config.fc_features}
    g_config = {"latent_dim": config.latent_dim, "code_dim": width, **shape}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = build(ARCHITECTURE, **g_config)
        discriminator = build("infogan_discriminator", code_dim=width, **shape)
    betas = (config.beta1, config.beta2)
    if config.info_trains_body:
        opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=betas)
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas)
    else:
        # Q moves with the generator and the body learns real from fake alone: Q can then only
        # read the codes from features that tell digits apart, not from marks G and Q agree on.
        q_head = list(discriminator.q.parameters())
        body = [p for name, p in discriminator.named_parameters() if not name.startswith("q.")]
        opt_g = torch.optim.Adam([*generator.parameters(), *q_head], lr=config.lr_g, betas=betas)
        opt_d = torch.optim.Adam(body, lr=config.lr_d, betas=betas)
    loop = TrainingLoop(config, {"generator": generator, "discriminator": discriminator},
                        {"opt_g": opt_g, "opt_d": opt_d}, callbacks, checkpoint_dir=checkpoint_dir,
                        meta={"generator": ARCHITECTURE, "generator_config": g_config},
                        generator="generator", ema_decay=config.ema_decay, runtime=runtime)
    run_g, run_d = runtime.compiled(generator), runtime.compiled(discriminator)
    images = runtime.images(dataset.images)
    schedule = BatchSchedule(len(dataset), config.batch_size, config.seed, runtime.device)

    def train_step(step: int) -> StepReport:
        rng = runtime.generator(derived_seed(config.seed, "noise", step))
        real = images[schedule.indices(step)]
        n = len(real)
        z = torch.randn(n, config.latent_dim, generator=rng, device=runtime.device)
        codes, targets = sample_codes(specs, n, rng)
        with runtime.autocast():
            fake = run_g(z, codes)
            real_scores, _ = run_d(real)
            fake_scores, q = run_d(fake.detach())
            real_scores, fake_scores = real_scores.float(), fake_scores.float()
            loss_d = (F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
                      + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))
            if config.info_trains_body:
                loss_d = loss_d + information_loss(q, specs, targets, config)[0]
        runtime.minimize(loss_d, opt_d)

        with runtime.autocast():
            scores, q = run_d(fake)
            scores = scores.float()
            info_g, categorical, continuous = information_loss(q, specs, targets, config)
            # Without info_trains_body this also trains Q; the body's gradients here are cleared
            # before the next discriminator step.
            loss_g = F.binary_cross_entropy_with_logits(scores, torch.ones_like(scores)) + info_g
        runtime.minimize(loss_g, opt_g)
        # Detached tensors, read by the loop in one transfer.
        return StepReport({"d": loss_d.detach(), "g": loss_g.detach(), "info_categorical": categorical,
                           "info_continuous": continuous}, n)

    outcome = loop.run(train_step)

    def noise_batch(rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        # On the CPU, with the CPU generator the recalibration gives: the final generator is on the host.
        return torch.randn(config.batch_size, config.latent_dim, generator=rng), sample_codes(specs, config.batch_size, rng)[0]

    return InfoTrainResult(generator=loop.final_generator(noise_batch), architecture_config=g_config, codes=specs,
                           channels=dataset.channels, image_size=dataset.image_size, step=outcome.step,
                           aborted=outcome.aborted, losses=outcome.losses)
