"""StyleGAN2 (Karras et al. 2020) as a family: its hyperparameters, free of torch so the API can
validate a request.

Defaults are the paper's where they carry over to small images on a CPU: Adam at 2e-3 with
betas (0, 0.99), the non-saturating logistic loss, lazy R1 every 16 steps, path-length
regularisation every 4 steps (off by default here: it doubles the cost of a generator step),
style-mixing regularisation with probability 0.9, a mapping network at 1/100 of the learning
rate. Widths and the mapping depth are scaled down from 512 x 8.
"""

from typing import Literal

from pydantic import Field, field_validator

from training.families.shared import TrainerOptions, diffaugment_policy
from training.families.spec import Family


class StyleGAN2Hyperparameters(TrainerOptions):
    latent_dim: int = Field(64, ge=1, le=1024, description="Length of z.")
    w_dim: int = Field(64, ge=1, le=1024, description="Length of w, the mapping network's output.")
    mapping_layers: int = Field(4, ge=1, le=8, description="Depth of the mapping network (8 in the paper).")
    base_channels: int = Field(32, ge=4, le=512, description="Feature maps at 32x32; they double per halving of the side.")
    max_channels: int = Field(128, ge=8, le=512, description="Cap on feature maps (512 in the paper).")
    batch_size: int = Field(32, ge=2, le=1024, description="Images per step.")
    lr: float = Field(2e-3, gt=0, le=1, description="Adam learning rate of both networks.")
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.99, ge=0, lt=1, description="Adam beta2.")
    r1_gamma: float = Field(1.0, ge=0, le=1000, description="Weight of the R1 penalty on real images; 0 disables it.")
    r1_every: int = Field(16, ge=1, le=64, description="Lazy regularisation: R1 every this many steps.")
    pl_weight: float = Field(0.0, ge=0, le=100, description="Path-length regularisation weight (2 in the paper); 0 disables it.")
    pl_every: int = Field(4, ge=1, le=64, description="Path-length regularisation every this many steps.")
    style_mixing_prob: float = Field(0.9, ge=0, le=1, description="Share of generated images made from two latents.")
    ema_decay: float = Field(0.995, ge=0, lt=1, description="Decay of the generator's moving average; 0 disables it.")
    w_avg_beta: float = Field(0.995, ge=0, lt=1, description="Decay of the tracked average of w (truncation's centre).")
    diffaugment: str = Field("", description="DiffAugment policy for small data (color, translation, cutout).",
                             examples=["color,translation,cutout"])
    loss: Literal["logistic"] = Field("logistic", description="Fixed: the non-saturating logistic loss.")
    conditional: bool = Field(False, description="Condition on the class through the mapping network "
                              "(a `classes` dataset).")

    @field_validator("diffaugment")
    @classmethod
    def _known_ops(cls, policy: str) -> str:
        return diffaugment_policy(policy)


FAMILY = Family(
    name="stylegan2",
    summary="StyleGAN2 (Karras et al. 2020), sized for a CPU: mapping network, modulated convolutions, noise "
    "inputs, skip generator, residual D with minibatch stddev, logistic loss, lazy R1, style mixing, EMA; "
    "class-conditional through the mapping network with hyperparameters.conditional.",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=StyleGAN2Hyperparameters,
    recipe="stylegan2",
)
