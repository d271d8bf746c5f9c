"""pix2pix and CycleGAN settings as pydantic models, free of torch (the API validates with them).

Defaults are the papers' and junyanz/pytorch-CycleGAN-and-pix2pix's: Adam at 2e-4 with
beta1 0.5; pix2pix: U-Net generator, 70x70 PatchGAN on the (input, output) pair, vanilla GAN
loss + 100 x L1; CycleGAN: ResNet generators with instance norm, PatchGANs, LSGAN loss,
10 x cycle + 0.5 x 10 x identity, a 50-image history pool for the discriminators. The learning
rate is constant for the first half of the run and decays linearly to zero over the second
(the reference's 100 + 100 epochs, expressed as a fraction of the steps).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Norm = Literal["batch", "instance"]
UNet = Literal["auto", "unet_32", "unet_64", "unet_128", "unet_256"]
ResNet = Literal["resnet_6blocks", "resnet_9blocks"]


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(1, ge=1, le=256, description="Images per step (the papers use 1).")
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate of generators and discriminators.")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    decay_fraction: float = Field(
        0.5, ge=0, le=1, description="Final fraction of the steps over which the learning rate decays linearly to 0."
    )
    ngf: int = Field(64, ge=1, le=256, description="Generator width at full resolution.")
    ndf: int = Field(64, ge=1, le=256, description="Discriminator width of its first layer.")
    n_layers_d: int = Field(3, ge=1, le=5, description="PatchGAN layers: 3 sees 70x70 patches, 2 34x34, 1 16x16.")


class Pix2PixHyperparameters(_Common):
    """pix2pix (Isola et al. 2017): what a training request may set."""

    generator: UNet = Field(
        "auto", description="U-Net depth; auto picks the one whose innermost level is 1x1 at the image size "
        "(unet_256 for 256x256, unet_32 for 32x32).",
    )
    norm: Norm = Field("batch", description="Normalisation in G and D (batch in the paper).")
    use_dropout: bool = Field(True, description="Dropout in the U-Net's 8ngf decoder levels (off at inference).")
    lambda_l1: float = Field(100.0, ge=0, le=10_000, description="Weight of L1(G(x), y) beside the GAN loss.")
    gan_loss: Literal["vanilla", "lsgan"] = Field("vanilla", description="Adversarial loss (vanilla: BCE).")


class CycleGANHyperparameters(_Common):
    """CycleGAN (Zhu et al. 2017): what a training request may set."""

    generator: ResNet = Field("resnet_9blocks", description="ResNet generator: 9 blocks (256px) or 6 (128px).")
    norm: Norm = Field("instance", description="Normalisation in G and D (instance in the paper).")
    lambda_cycle: float = Field(10.0, ge=0, le=1000, description="Weight of each cycle loss |F(G(a)) - a|, |G(F(b)) - b|.")
    lambda_identity: float = Field(
        0.5, ge=0, le=10, description="Identity loss |G(b) - b| weight, as a fraction of lambda_cycle (needs equal channels)."
    )
    pool_size: int = Field(50, ge=0, le=1000, description="History of generated images the discriminators see; 0 disables.")
    gan_loss: Literal["lsgan", "vanilla"] = Field("lsgan", description="Adversarial loss (lsgan: least squares).")


class _Run(BaseModel):
    steps: int = Field(1000, ge=0, description="Optimizer steps of the generator(s).")
    seed: int = Field(0, ge=0, description="Seeds initialisation, batches, augmentation and the image pool.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")
    image_size: int = Field(256, ge=8, le=1024, description="Square training size.")
    channels_a: int = Field(3, description="Channels of domain A: 1 or 3.")
    channels_b: int = Field(3, description="Channels of domain B: 1 or 3.")


class Pix2PixConfig(Pix2PixHyperparameters, _Run):
    """Everything that decides a pix2pix run, apart from the data."""


class CycleGANConfig(CycleGANHyperparameters, _Run):
    """Everything that decides a CycleGAN run, apart from the data."""


def learning_rate_factor(step: int, steps: int, decay_fraction: float) -> float:
    """1 for the first (1 - decay_fraction) of the run, then linearly down to 0 at the end."""
    decay_steps = round(steps * decay_fraction)
    constant = steps - decay_steps
    if decay_steps == 0 or step < constant:
        return 1.0
    return max(0.0, 1.0 - (step - constant) / decay_steps)
