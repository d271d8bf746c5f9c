"""LSGAN (Mao et al. 2017): a DCGAN with the least-squares loss."""

from typing import Literal

from pydantic import Field

from training.families.dcgan import DCGANHyperparameters
from training.families.spec import Family


class LSGANHyperparameters(DCGANHyperparameters):
    """LSGAN (Mao et al. 2017): least squares with targets 0 (fake) and 1 (real and generator).

    Everything else is DCGAN's; the paper trains with Adam at 2e-4 and beta1 0.5 as well.
    """

    loss: Literal["lsgan"] = Field("lsgan", description="Fixed: least-squares loss.")


FAMILY = Family(
    name="lsgan",
    summary="LSGAN (Mao et al. 2017), unconditional: least-squares loss with 0/1 targets, DCGAN nets and Adam 2e-4 (0.5, 0.999).",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=LSGANHyperparameters,
    recipe="dcgan",
)
