"""Class-conditional DCGAN with a projection discriminator."""

from pydantic import Field

from training.families.dcgan import DCGANHyperparameters, Loss
from training.families.spec import Family


class CDCGANHyperparameters(DCGANHyperparameters):
    """Class-conditional: a projection discriminator trained with the hinge loss.

    Projection plus hinge is the conditional baseline of Miyato & Koyama (2018), stronger than
    AC-GAN's auxiliary classifier (which has its own loss to balance against the adversarial
    one and is biased towards easily classified images, Shu et al. 2017). The projection is
    fixed by the family; the loss may be changed.
    """

    loss: Loss = Field("hinge", description="Adversarial loss; hinge is the projection discriminator's own.")


FAMILY = Family(
    name="cdcgan",
    summary="Class-conditional DCGAN: label embedding in G, projection D with hinge loss (Miyato & Koyama 2018), Adam 2e-4 (0.5, 0.999).",
    task="generate",
    layouts=("classes",),
    hyperparameters=CDCGANHyperparameters,
    conditional=True,
    recipe="dcgan",
)
