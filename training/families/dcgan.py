"""DCGAN (Radford et al. 2016), unconditional, and the hyperparameters the DCGAN-shaped families narrow.

`DCGANHyperparameters` holds every knob a request may set; each family built on it (lsgan,
wgan_gp, cdcgan, sagan) narrows it in its own module where its defaults differ or a setting is
what makes the family (WGAN-GP's loss, a critic without batch norm), with `Literal` fields so a
request cannot turn a family into something else. Free of torch: the API validates with it.
"""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from training.families.shared import TrainerOptions, diffaugment_policy
from training.families.spec import Family

Loss = Literal["non_saturating", "lsgan", "wgan_gp", "hinge"]
DiscriminatorNorm = Literal["batch", "layer", "none"]

# Losses whose real targets are numbers that one-sided label smoothing can move.
_SMOOTHABLE: set[str] = {"non_saturating", "lsgan"}


class DCGANHyperparameters(TrainerOptions):
    """The knobs of a DCGAN run that a training request may set under `hyperparameters`."""

    latent_dim: int = Field(64, ge=1, le=1024, description="Length of the latent vector z.")
    base_features: int = Field(64, ge=1, le=512, description="Width of the widest-resolution layers.")
    embed_dim: int = Field(16, ge=1, le=1024, description="Size of the generator's label embedding (conditional only).")
    batch_size: int = Field(64, ge=1, le=1024, description="Images per step.")
    lr_g: float = Field(2e-4, gt=0, le=1, description="Generator learning rate.")
    lr_d: float = Field(2e-4, gt=0, le=1, description="Discriminator learning rate.")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="Real targets are 1 - this (one-sided); non_saturating and lsgan losses only."
    )
    ema_decay: float = Field(0.999, ge=0, lt=1, description="Decay of the generator's moving average; 0 disables it.")
    loss: Loss = Field(
        "non_saturating",
        description="Adversarial loss: non_saturating (Goodfellow et al. 2014), lsgan (Mao et al. 2017), "
        "wgan_gp (Gulrajani et al. 2017; needs gp_lambda > 0) or hinge (Lim & Ye 2017; Miyato et al. 2018).",
    )
    critic_steps: int = Field(1, ge=1, le=20, description="Discriminator updates per generator update.")
    gp_lambda: float = Field(
        0.0, ge=0, le=1000, description="Weight of the gradient penalty on real/fake interpolates; 0 disables it."
    )
    d_norm: DiscriminatorNorm = Field(
        "batch", description="Normalisation in the discriminator: batch, layer (per image) or none."
    )
    spectral_norm: bool = Field(False, description="Spectral normalisation on every discriminator layer (Miyato et al. 2018).")
    self_attention: bool = Field(
        False, description="A self-attention block in generator and discriminator (SAGAN, Zhang et al. 2019)."
    )
    attention_at: int = Field(
        0, ge=0, le=256,
        description="Side of the feature map the self-attention block follows; 0 picks the largest inner map up to 16.",
    )
    diffaugment: str = Field(
        "",
        description="DiffAugment policy (Zhao et al. 2020), comma-separated ops from color, translation, cutout, "
        "applied to real and generated images before the discriminator; empty disables it. Helps on small data.",
        examples=["color,translation,cutout"],
    )

    @field_validator("diffaugment")
    @classmethod
    def _known_ops(cls, policy: str) -> str:
        return diffaugment_policy(policy)

    @model_validator(mode="after")
    def _consistent(self):
        if self.loss == "wgan_gp" and self.gp_lambda == 0:
            raise ValueError("loss wgan_gp needs gp_lambda > 0: the penalty is what keeps the critic 1-Lipschitz")
        if self.gp_lambda > 0 and self.d_norm == "batch":
            # Batch norm mixes the images of a batch, so the per-image gradient the penalty
            # constrains is not the critic's (Gulrajani et al. 2017, section 4).
            raise ValueError("a gradient penalty needs a discriminator without batch norm: set d_norm to layer or none")
        if self.label_smoothing > 0 and self.loss not in _SMOOTHABLE:
            raise ValueError(f"label_smoothing has no meaning for loss {self.loss}; it applies to {', '.join(sorted(_SMOOTHABLE))}")
        return self


FAMILY = Family(
    name="dcgan",
    summary="DCGAN, unconditional: non-saturating loss, Adam 2e-4 (0.5, 0.999), N(0, 0.02) init, batch-norm D.",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=DCGANHyperparameters,
    recipe="dcgan",
)
