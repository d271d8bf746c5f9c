"""WGAN-GP (Gulrajani et al. 2017): a DCGAN-shaped critic with the gradient penalty."""

from typing import Literal

from pydantic import Field

from training.families.dcgan import DCGANHyperparameters
from training.families.spec import Family


class WGANGPHyperparameters(DCGANHyperparameters):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): lambda 10, 5 critic steps per generator
    step, Adam at 1e-4 with betas (0.0, 0.9).

    Betas (0.0, 0.9) are Algorithm 1's defaults (the paper's DCGAN-architecture scripts used
    beta1 0.5): without momentum each of the five critic updates follows the current gradient
    instead of one that lags behind a critic that has just moved. The critic has no batch norm;
    layer norm is the paper's recommended replacement, so it is the default (none also works).
    """

    loss: Literal["wgan_gp"] = Field("wgan_gp", description="Fixed: Wasserstein loss with gradient penalty.")
    lr_g: float = Field(1e-4, gt=0, le=1, description="Generator learning rate.")
    lr_d: float = Field(1e-4, gt=0, le=1, description="Critic learning rate.")
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.9, ge=0, lt=1, description="Adam beta2.")
    critic_steps: int = Field(5, ge=1, le=20, description="Critic updates per generator update.")
    gp_lambda: float = Field(10.0, gt=0, le=1000, description="Weight of the gradient penalty.")
    d_norm: Literal["layer", "none"] = Field("layer", description="Normalisation in the critic; never batch norm.")
    label_smoothing: Literal[0.0] = Field(0.0, description="Not applicable to a critic.")


FAMILY = Family(
    name="wgan-gp",
    summary="WGAN-GP (Gulrajani et al. 2017), unconditional: layer-norm critic, gradient penalty 10, 5 critic steps per G step, Adam 1e-4 (0.0, 0.9).",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=WGANGPHyperparameters,
    recipe="dcgan",
)
