"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation, both directions.

Defaults are the paper's and junyanz/pytorch-CycleGAN-and-pix2pix's: ResNet generators with
instance norm, PatchGANs, LSGAN loss, 10 x cycle + 0.5 x 10 x identity, a 50-image history pool
for the discriminators, Adam at 2e-4 with beta1 0.5 and pix2pix's linear decay.
"""

from typing import Literal

from pydantic import Field

from training.families.shared import Norm, TranslationHyperparameters
from training.families.spec import Family

ResNet = Literal["resnet_6blocks", "resnet_9blocks"]


class CycleGANHyperparameters(TranslationHyperparameters):
    """CycleGAN (Zhu et al. 2017): what a training request may set."""

    generator: ResNet = Field("resnet_9blocks", description="ResNet generator: 9 blocks (256px) or 6 (128px).")
    norm: Norm = Field("instance", description="Normalisation in G and D (instance in the paper).")
    lambda_cycle: float = Field(10.0, ge=0, le=1000, description="Weight of each cycle loss |F(G(a)) - a|, |G(F(b)) - b|.")
    lambda_identity: float = Field(
        0.5, ge=0, le=10, description="Identity loss |G(b) - b| weight, as a fraction of lambda_cycle (needs equal channels)."
    )
    pool_size: int = Field(50, ge=0, le=1000, description="History of generated images the discriminators see; 0 disables.")
    gan_loss: Literal["lsgan", "vanilla"] = Field("lsgan", description="Adversarial loss (lsgan: least squares).")

FAMILY = Family(
    name="cyclegan",
    summary="CycleGAN (Zhu et al. 2017) on unpaired A/B images: two ResNet Gs (instance norm), PatchGAN Ds, "
    "LSGAN + 10 x cycle + 0.5 x identity, 50-image pool, Adam 2e-4 (0.5, 0.999), linear decay.",
    task="translate",
    layouts=("unpaired",),
    hyperparameters=CycleGANHyperparameters,
    recipe="cyclegan",
)
