"""SAGAN (Zhang et al. 2019): the DCGAN nets with a self-attention block in both networks."""

from typing import Literal

from pydantic import Field

from training.families.dcgan import DCGANHyperparameters, DiscriminatorNorm, Loss
from training.families.spec import Family


class SAGANHyperparameters(DCGANHyperparameters):
    """SAGAN (Zhang et al. 2019) on the DCGAN nets: self-attention in both networks, spectral
    norm in the discriminator (instead of batch norm), the hinge loss, and the two time-scale
    update rule: Adam at 1e-4 for G and 4e-4 for D with betas (0, 0.9)."""

    self_attention: Literal[True] = Field(True, description="Fixed: the block is what makes the family.")
    spectral_norm: bool = Field(True, description="Spectral normalisation on every discriminator layer.")
    d_norm: DiscriminatorNorm = Field("none", description="Normalisation in the discriminator besides spectral norm.")
    loss: Loss = Field("hinge", description="Adversarial loss; hinge is SAGAN's.")
    lr_g: float = Field(1e-4, gt=0, le=1, description="Generator learning rate (TTUR).")
    lr_d: float = Field(4e-4, gt=0, le=1, description="Discriminator learning rate (TTUR).")
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.9, ge=0, lt=1, description="Adam beta2.")


FAMILY = Family(
    name="sagan",
    summary="SAGAN (Zhang et al. 2019), unconditional: self-attention in G and D, spectral-norm D, hinge loss, "
    "two time-scale Adam (G 1e-4, D 4e-4, betas 0/0.9).",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=SAGANHyperparameters,
    recipe="dcgan",
)
