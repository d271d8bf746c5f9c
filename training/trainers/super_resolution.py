"""The super-resolution trainer (SRGAN / ESRGAN): L1 pretraining, then L1 + feature loss +
relativistic average GAN loss. The shared loop (training/trainers/loop.py) runs the steps: callbacks,
safetensors checkpoints and resume, the generator's moving average, and the two phases
("pretrain", "gan"), which progress callbacks can tell apart.

Data: high-resolution images (uint8 or float in [0, 1], any sizes). Each step cuts
`batch_size` patches of `patch_size * scale` pixels, flips and rotates them, and makes the
low-resolution inputs on the fly by bicubic downscaling with antialiasing (torch's, which
follows Pillow's), quantised to 8 bits as a served image would be.

Determinism: the patches and augmentations of step `s` come from a generator seeded by
(seed, s) alone, so a run resumed at step s sees what an uninterrupted run would (on the same
kind of device).

Device: the images go to the run's device once (when they fit there), and each step's patches
are cut from them there by index (`PatchSampler`); the networks and the VGG feature loss run on
the device, forward passes and losses in the run's precision with the scores and the losses in
fp32 (training/trainers/device.py); losses are reported as device tensors, read once per step.
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
from training.trainers.device import DATASET_SHARE, Runtime
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


def fits_on(device: torch.device, nbytes: int, share: float = DATASET_SHARE) -> bool:
    """Whether `nbytes` of training images may live on `device`: always on the CPU; on a GPU when
    they take at most `share` of its free memory (the networks, activations and optimisers need
    the rest), as for every trainer's dataset (training/trainers/device.py)."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= share * free


class PatchSampler:
    """Batches of (LR, HR) patches on `device`; what step `s` draws depends on (seed, s) only (on
    the same kind of device). Every image is picked equally often (a huge photo does not crowd
    out the rest).

    The images are kept as one tensor, their pixels side by side ([C, all pixels]), on `device`
    when they fit there (`fits_on`), else on the host. A batch's draws (image, corner, flip,
    quarter turns) are made on `device` by a generator of it and turned into the index of every
    pixel of every patch in that tensor, so the patches are cut, flipped and turned by one
    gather, without a round trip to the host (from host-kept images the patches travel)."""

    def __init__(self, images: list[torch.Tensor], hr_patch: int, scale: int, batch_size: int, seed: int,
                 device: str | torch.device = "cpu"):
        small = [tuple(i.shape[1:]) for i in images if min(i.shape[1:]) < hr_patch]
        if small:
            raise ValueError(f"images must be at least {hr_patch} pixels on each side; got {small[:3]}")
        channels = sorted({int(i.shape[0]) for i in images})
        if len(channels) != 1:
            raise ValueError(f"images must all have the same number of channels; got {channels}")
        self.hr_patch, self.scale, self.batch_size, self.seed = hr_patch, scale, batch_size, seed
        self.device, self.count = torch.device(device), len(images)
        heights = torch.tensor([int(i.shape[1]) for i in images])
        widths = torch.tensor([int(i.shape[2]) for i in images])
        sizes = heights * widths
        starts = torch.cumsum(sizes, 0) - sizes
        self.heights, self.widths, self.starts = (t.to(self.device) for t in (heights, widths, starts))
        pixels = torch.cat([i.to(torch.float32).reshape(i.shape[0], -1) for i in images], 1)
        self.storage = self.device if fits_on(self.device, pixels.nbytes) else torch.device("cpu")
        self.pixels = pixels.to(self.storage)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = torch.Generator(device=self.device).manual_seed(derived_seed(self.seed, "patches", step))
        n, size, on = self.batch_size, self.hr_patch, self.device
        picks = torch.randint(self.count, (n,), generator=rng, device=on)
        height, width = self.heights[picks], self.widths[picks]
        top = _below(height - size + 1, rng)
        left = _below(width - size + 1, rng)
        flip = torch.randint(2, (n,), generator=rng, device=on).bool()
        turns = torch.randint(4, (n,), generator=rng, device=on)
        rows, cols = dihedral_coordinates(size, flip, turns)
        index = (self.starts[picks, None, None] + (top[:, None, None] + rows) * width[:, None, None]
                 + left[:, None, None] + cols)  # [n, size, size] into the pixels of all images
        hr = self.pixels[:, index.to(self.storage)].transpose(0, 1).contiguous()  # [n, C, size, size]
        if hr.device != on:  # cut on the host: the patches travel, from pinned memory on CUDA
            hr = hr.pin_memory().to(on, non_blocking=True) if on.type == "cuda" else hr.to(on)
        return bicubic_downscale(hr, self.scale), hr


def _below(bounds: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """One uniform integer in [0, bound) per bound, drawn on the bounds' device."""
    draws = torch.rand(len(bounds), generator=rng, device=bounds.device, dtype=torch.float64)
    return torch.minimum((draws * bounds).long(), bounds - 1)


def dihedral_coordinates(size: int, flip: torch.Tensor, turns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where pixel (i, j) of each output patch is read in its cut: the cut mirrored left to right
    where `flip`, then turned `turns` quarter turns as torch.rot90(patch, turns, (1, 2)) does.
    Answers (rows, cols), each [n, size, size]."""
    on = flip.device
    i = torch.arange(size, device=on)[None, :, None]
    j = torch.arange(size, device=on)[None, None, :]
    last = size - 1
    k = turns[:, None, None]
    # rot90 k times: out[i, j] = patch[j, last - i], patch[last - i, last - j], patch[last - j, i]
    rows = torch.where(k == 0, i, torch.where(k == 1, j, torch.where(k == 2, last - i, last - j)))
    cols = torch.where(k == 0, j, torch.where(k == 1, last - i, torch.where(k == 2, last - j, i)))
    cols = torch.where(flip[:, None, None], last - cols, cols)
    return rows, cols


def relativistic_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaGAN (Jolicoeur-Martineau 2018) as ESRGAN uses it: is real more real than the average fake?"""
    return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.ones_like(real))
                  + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.zeros_like(fake)))


def relativistic_g_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The generator's side: both terms, so it also learns from the real images' scores."""
    return 0.5 * (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.zeros_like(real))
                  + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.ones_like(fake)))


def feature_matching_loss(real_taps: list[torch.Tensor], fake_taps: list[torch.Tensor]) -> torch.Tensor:
    """Mean over discriminator stages of L1 between real and generated activations (in fp32)."""
    return sum(F.l1_loss(fake.float(), real.detach().float()) for real, fake in zip(real_taps, fake_taps)) / len(real_taps)


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
        fake_features = self.features((fake - self.mean) / self.std)
        real_features = self.features((real - self.mean) / self.std).detach()
        return F.l1_loss(fake_features.float(), real_features.float())  # the distance in fp32 under autocast


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
    device: str | torch.device = "cpu",
    **callbacks: Unpack[Callbacks],
) -> SRTrainResult:
    """Train for `config.steps` steps on `device` (resuming from `checkpoint_dir` when it holds one).

    `images`: HWC uint8 arrays, or an NCHW float array in [-1, 1] (an uploaded dataset). The
    callbacks are the shared loop's (training/trainers/loop.py); `sample_fn` gets the EMA generator when enabled
    (on the device). The exported generator is on the host.
    """
    runtime = Runtime.of(config, device)
    tensors = as_unit_tensors(images)
    if not tensors:
        raise ValueError("no images to train on")
    channels = tensors[0].shape[0]
    hr_patch = config.patch_size * config.scale
    sampler = PatchSampler(tensors, hr_patch, config.scale, config.batch_size, config.seed, runtime.device)
    del tensors  # the sampler holds the pixels now
    g_config = config.generator_config(channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        generator = build(config.generator, **g_config)
        discriminator = build("vgg_sn_discriminator", channels=channels, features=config.d_features,
                              stages=min(4, int(math.log2(hr_patch)) - 2))
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_pretrain, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas)
    vgg = runtime.place(VGGFeatureLoss(config.vgg_weights_path)) if config.feature_loss == "vgg" else None
    # pretrain_fraction may not change on resume (training/trainers/checkpoints.py): it fixes the phase boundary.
    loop = TrainingLoop(config, {"generator": generator, "discriminator": discriminator},
                        {"opt_g": opt_g, "opt_d": opt_d}, callbacks, checkpoint_dir=checkpoint_dir,
                        meta={"generator": config.generator, "generator_config": g_config},
                        generator="generator", ema_decay=config.ema_decay,
                        learning_rates=lambda step: learning_rates(config, step),
                        phases=training_phases(config.steps, ("pretrain", 0), ("gan", config.pretrain_steps)),
                        runtime=runtime)
    # The spectral-norm discriminator stays eager even when the run compiles (Runtime.compiled says why).
    run_g, run_d = runtime.compiled(generator), runtime.compiled(discriminator)
    run_vgg = runtime.compiled(vgg) if vgg is not None else None

    def train_step(step: int) -> StepReport:
        lr, hr = (runtime.to_device(x) for x in sampler.batch(step))  # channels-last on CUDA
        with runtime.autocast():
            sr = run_g(lr)
            pixel = F.l1_loss(sr.float(), hr)
        if step < config.pretrain_steps:
            loss_g = pixel
            losses = {"l1": pixel.detach()}
        else:
            # discriminator first, on a detached output
            with runtime.autocast():
                real_logits = run_d(hr).float()
                fake_logits = run_d(sr.detach()).float()
                loss_d = relativistic_d_loss(real_logits, fake_logits)
            runtime.minimize(loss_d, opt_d)
            with runtime.autocast():
                real_logits, real_taps = run_d(hr, features=True)
                fake_logits, fake_taps = run_d(sr, features=True)
                feature = run_vgg(sr, hr) if run_vgg is not None else feature_matching_loss(real_taps, fake_taps)
                adversarial = relativistic_g_loss(real_logits.detach().float(), fake_logits.float())
                loss_g = config.pixel_weight * pixel + config.feature_weight * feature + config.gan_weight * adversarial
            # Detached device tensors: the loop reads them in one transfer.
            losses = {"l1": pixel.detach(), "feature": feature.detach(), "g_gan": adversarial.detach(),
                      "d": loss_d.detach()}
        runtime.minimize(loss_g, opt_g)
        return StepReport(losses, len(lr))

    outcome = loop.run(train_step)
    return SRTrainResult(
        generator=loop.final_generator(), architecture=config.generator, architecture_config=g_config,
        scale=config.scale, channels=channels, patch_size=config.patch_size, step=outcome.step,
        aborted=outcome.aborted, feature_loss=config.feature_loss, losses=outcome.losses,
    )

