"""pix2pix (Isola et al. 2017): paired image-to-image translation.

Defaults are the paper's and junyanz/pytorch-CycleGAN-and-pix2pix's: U-Net generator, 70x70
PatchGAN on the (input, output) pair, vanilla GAN loss + 100 x L1, Adam at 2e-4 with beta1 0.5;
the learning rate is constant for the first half of the run and decays linearly to zero over
the second (the reference's 100 + 100 epochs, as a fraction of the steps).
"""

from typing import Literal

from pydantic import Field

from training.families.shared import Norm, TranslationHyperparameters
from training.families.spec import Family

UNet = Literal["auto", "unet_32", "unet_64", "unet_128", "unet_256"]


class Pix2PixHyperparameters(TranslationHyperparameters):
    """pix2pix (Isola et al. 2017): what a training request may set."""

    generator: UNet = Field(
        "auto", description="U-Net depth; auto picks the one whose innermost level is 1x1 at the image size "
        "(unet_256 for 256x256, unet_32 for 32x32).",
    )
    norm: Norm = Field("batch", description="Normalisation in G and D (batch in the paper).")
    use_dropout: bool = Field(True, description="Dropout in the U-Net's 8ngf decoder levels (off at inference).")
    lambda_l1: float = Field(100.0, ge=0, le=10_000, description="Weight of L1(G(x), y) beside the GAN loss.")
    gan_loss: Literal["vanilla", "lsgan"] = Field("vanilla", description="Adversarial loss (vanilla: BCE).")

FAMILY = Family(
    name="pix2pix",
    summary="pix2pix (Isola et al. 2017) on paired A/B images: U-Net G, 70x70 PatchGAN on the (input, output) "
    "pair, vanilla GAN + 100 x L1, Adam 2e-4 (0.5, 0.999), linear decay over the second half.",
    task="translate",
    layouts=("paired",),
    hyperparameters=Pix2PixHyperparameters,
    recipe="pix2pix",
)
