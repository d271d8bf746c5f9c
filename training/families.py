"""What POST /train can train, by name: the trainer, the data it needs and its hyperparameters.

Free of torch: the API validates a request against this table, and only the training worker
imports the trainer it names.
"""

from dataclasses import dataclass

from pydantic import BaseModel

from training.configs import DCGANHyperparameters


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    task: str  # the task of the model it produces: generate, translate or upscale
    layouts: tuple[str, ...]  # dataset layouts it can train on
    hyperparameters: type[BaseModel]
    conditional: bool = False


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="dcgan",
            summary="DCGAN, unconditional: non-saturating loss, Adam 2e-4 (0.5, 0.999), N(0, 0.02) init.",
            task="generate",
            layouts=("images", "classes"),
            hyperparameters=DCGANHyperparameters,
        ),
        Family(
            name="cdcgan",
            summary="Class-conditional DCGAN: label embedding in G, projection discriminator.",
            task="generate",
            layouts=("classes",),
            hyperparameters=DCGANHyperparameters,
            conditional=True,
        ),
    )
}
