"""The super-resolution trainer (SRGAN / ESRGAN): L1 pretraining, then L1 + feature loss +
relativistic average GAN loss. The shared loop (training/trainers/loop.py) runs the steps: callbacks,
safetensors checkpoints and resume, the generator's moving average, and the two phases
("pretrain", "gan"), which progress callbacks can tell apart.

Data: high-resolution images (uint8 or float in [0, 1], any sizes). Each step cuts
`batch_size` patches of `patch_size * scale` pixels, flips and rotates them, and makes the
low-resolution inputs on the fly by bicubic downscaling with antialiasing (torch's, which
follows Pillow's), quantised to 8 bits as a served image would be.

Determinism: the patches and augmentations of step `s` come from a generator seeded by
(seed, s) alone, so a run resumed at step s sees what an uninterrupted run would.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Unpack

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from models.architectures import build
from models.inference.pixels import integers_to_unit, signed_to_unit
from models.manifest import UpscalerSignature
from training.families.esrgan import ESRGANHyperparameters
from training.trainers.loop import Callbacks, StepReport, TrainingLoop
from training.trainers.schedule import derived_seed, training_phases

FeatureLoss = Literal["feature_matching", "vgg"]


class SRConfig(ESRGANHyperparameters):
    """Everything that decides a super-resolution run, apart from the data."""

    generator: Literal["msrresnet", "rrdbnet"] = Field("msrresnet", description="Registered generator architecture.")
    global_residual: bool = Field(True, description="Add the bilinear-upsampled input to the output.")
    steps: int = Field(1000, ge=0, description="Generator updates over both phases.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, patches and augmentation.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")
    feature_loss: FeatureLoss = Field("feature_matching", description="feature_matching, or vgg with vgg_weights_path.")
    vgg_weights_path: str | None = Field(None, description="VGG19 safetensors file for feature_loss='vgg'.")

    @model_validator(mode="after")
    def _vgg_needs_weights(self):
        if self.feature_loss == "vgg" and not self.vgg_weights_path:
            raise ValueError("feature_loss 'vgg' needs vgg_weights_path: VGG weights cannot be downloaded here")
        return self

    @property
    def pretrain_steps(self) -> int:
        return round(self.steps * self.pretrain_fraction)

    def generator_config(self, channels: int) -> dict:
        config = {"channels": channels, "features": self.features, "blocks": self.blocks, "scale": self.scale,
                  "upsampler": self.upsampler, "global_residual": self.global_residual}
        if self.generator == "rrdbnet":
            config["growth"] = self.growth
        return config


@dataclass
class SRTrainResult:
    generator: nn.Module  # the EMA generator when enabled, eval mode, unclipped output
    architecture: str
    architecture_config: dict
    scale: int
    channels: int
    patch_size: int
    step: int
    aborted: bool
    feature_loss: str
    losses: dict[str, float] = field(default_factory=dict)

    def signature(self) -> UpscalerSignature:
        return UpscalerSignature(scale=self.scale, channels=self.channels, image_size=self.patch_size, size_multiple=1)


def as_unit_tensors(images: Sequence[np.ndarray] | np.ndarray) -> list[torch.Tensor]:
    """HWC uint8 images, or an NCHW float array in [-1, 1] (DatasetStore.load_images), as CHW float [0, 1]."""
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.dtype != np.uint8:
        return [torch.from_numpy(signed_to_unit(image)) for image in images]
    return [torch.from_numpy(integers_to_unit(np.ascontiguousarray(image.transpose(2, 0, 1)))) for image in images]


def bicubic_downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """N x C x H x W in [0, 1] -> H/scale x W/scale, antialiased bicubic, quantised to 8 bits."""
    lr = F.interpolate(hr, scale_factor=1.0 / scale, mode="bicubic", antialias=True, align_corners=False)
    return lr.clamp(0, 1).mul(255).round().div(255)


class PatchSampler:
    """Batches of (LR, HR) patches; what step `s` draws depends on (seed, s) only. Every image
    is picked equally often (a huge photo does not crowd out the rest)."""

    def __init__(self, images: list[torch.Tensor], hr_patch: int, scale: int, batch_size: int, seed: int):
        small = [tuple(i.shape[1:]) for i in images if min(i.shape[1:]) < hr_patch]
        if small:
            raise ValueError(f"images must be at least {hr_patch} pixels on each side; got {small[:3]}")
        self.images, self.hr_patch, self.scale, self.batch_size, self.seed = images, hr_patch, scale, batch_size, seed

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = torch.Generator().manual_seed(derived_seed(self.seed, "patches", step))
        picks = torch.randint(len(self.images), (self.batch_size,), generator=rng).tolist()
        patches = []
        for index in picks:
            image = self.images[index]
            _, h, w = image.shape
            top = int(torch.randint(h - self.hr_patch + 1, (1,), generator=rng))
            left = int(torch.randint(w - self.hr_patch + 1, (1,), generator=rng))
            patch = image[:, top:top + self.hr_patch, left:left + self.hr_patch]
            flip, turns = torch.randint(2, (1,), generator=rng).item(), torch.randint(4, (1,), generator=rng).item()
            patch = patch.flip(2) if flip else patch
            patches.append(torch.rot90(patch, turns, (1, 2)))
        hr = torch.stack(patches)
        return bicubic_downscale(hr, self.scale), hr


def relativistic_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaGAN (Jolicoeur-Martineau 2018) as ESRGAN uses it: is real more real than the average fake?"""
    return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.ones_like(real))
                  + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.zeros_like(fake)))


def relativistic_g_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The generator's side: both terms, so it also learns from the real images' scores."""
    return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.zeros_like(real))
                  + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.ones_like(fake)))


def feature_matching_loss(real_taps: list[torch.Tensor], fake_taps: list[torch.Tensor]) -> torch.Tensor:
    """Mean over discriminator stages of L1 between real and generated activations."""
    return sum(F.l1_loss(fake, real.detach()) for real, fake in zip(real_taps, fake_taps)) / len(real_taps)


class VGGFeatureLoss(nn.Module):
    """L1 on VGG19 conv5_4 features before activation (ESRGAN), from a local safetensors file with
    torchvision's key names (`features.N.weight`); never downloaded, never unpickled."""

    _LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)

    def __init__(self, weights_path: str):
        super().__init__()
        from safetensors.torch import load_file

        layers: list[nn.Module] = []
        width = 3
        for item in self._LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(width, item, 3, 1, 1), nn.ReLU()]
                width = item
        self.features = nn.Sequential(*layers[:-1])  # conv5_4 before its ReLU
        state = {k[len("features."):]: v for k, v in load_file(weights_path).items() if k.startswith("features.")}
        self.features.load_state_dict({k: v for k, v in state.items() if k in self.features.state_dict()}, strict=True)
        self.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if fake.shape[1] == 1:
            fake, real = fake.expand(-1, 3, -1, -1), real.expand(-1, 3, -1, -1)
        return F.l1_loss(self.features((fake - self.mean) / self.std), self.features((real - self.mean) / self.std).detach())


def learning_rates(config: SRConfig, step: int) -> dict[str, float]:
    """{optimizer: learning rate} at `step`: per phase, cosine to a tenth when enabled."""
    pre = config.pretrain_steps
    if step < pre:
        base_g, base_d, position, length = config.lr_pretrain, config.lr_d, step, pre
    else:
        base_g, base_d, position, length = config.lr_g, config.lr_d, step - pre, max(config.steps - pre, 1)
    factor = 1.0
    if config.cosine_decay:
        factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(position / max(length, 1), 1.0)))
    return {"opt_g": base_g * factor, "opt_d": base_d * factor}


def train_sr(
    config: SRConfig,
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    checkpoint_dir: Path | None = None,
    **callbacks: Unpack[Callbacks],
) -> SRTrainResult:
    """Train for `config.steps` steps (resuming from `checkpoint_dir` when it holds one).

    `images`: HWC uint8 arrays, or an NCHW float array in [-1, 1] (an uploaded dataset). The
    callbacks are the shared loop's (training/trainers/loop.py); `sample_fn` gets the EMA generator when enabled.
    """
    tensors = as_unit_tensors(images)
    if not tensors:
        raise ValueError("no images to train on")
    channels = tensors[0].shape[0]
    hr_patch = config.patch_size * config.scale
    sampler = PatchSampler(tensors, hr_patch, config.scale, config.batch_size, config.seed)
    g_config = config.generator_config(channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = build(config.generator, **g_config)
        discriminator = build("vgg_sn_discriminator", channels=channels, features=config.d_features,
                              stages=min(4, int(math.log2(hr_patch)) - 2))
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_pretrain, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas)
    vgg = VGGFeatureLoss(config.vgg_weights_path) if config.feature_loss == "vgg" else None
    # Only steps and checkpoint_every may change on resume: pretrain_fraction fixes the phase boundary.
    loop = TrainingLoop(config, {"generator": generator, "discriminator": discriminator},
                        {"opt_g": opt_g, "opt_d": opt_d}, callbacks, checkpoint_dir=checkpoint_dir,
                        meta={"generator": config.generator, "generator_config": g_config},
                        generator="generator", ema_decay=config.ema_decay,
                        learning_rates=lambda step: learning_rates(config, step),
                        phases=training_phases(config.steps, ("pretrain", 0), ("gan", config.pretrain_steps)))

    def train_step(step: int) -> StepReport:
        lr, hr = sampler.batch(step)
        sr = generator(lr)
        pixel = F.l1_loss(sr, hr)
        if step < config.pretrain_steps:
            loss_g = pixel
            losses = {"l1": pixel.item()}
        else:
            # discriminator first, on a detached output
            real_logits = discriminator(hr)
            fake_logits = discriminator(sr.detach())
            loss_d = relativistic_d_loss(real_logits, fake_logits)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            real_logits, real_taps = discriminator(hr, features=True)
            fake_logits, fake_taps = discriminator(sr, features=True)
            feature = vgg(sr, hr) if vgg is not None else feature_matching_loss(real_taps, fake_taps)
            adversarial = relativistic_g_loss(real_logits.detach(), fake_logits)
            loss_g = config.pixel_weight * pixel + config.feature_weight * feature + config.gan_weight * adversarial
            losses = {"l1": pixel.item(), "feature": feature.item(), "g_gan": adversarial.item(), "d": loss_d.item()}
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return StepReport(losses, len(lr))

    outcome = loop.run(train_step)
    return SRTrainResult(
        generator=loop.final_generator(), architecture=config.generator, architecture_config=g_config,
        scale=config.scale, channels=channels, patch_size=config.patch_size, step=outcome.step,
        aborted=outcome.aborted, feature_loss=config.feature_loss, losses=outcome.losses,
    )

