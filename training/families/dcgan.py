"""DCGAN (Radford et al. 2016), unconditional."""

from training.configs import DCGANHyperparameters
from training.families.spec import Family

FAMILY = Family(
    name="dcgan",
    summary="DCGAN, unconditional: non-saturating loss, Adam 2e-4 (0.5, 0.999), N(0, 0.02) init, batch-norm D.",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=DCGANHyperparameters,
    recipe="dcgan",
)
