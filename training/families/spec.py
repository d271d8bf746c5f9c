"""A GAN family as POST /train and the API see it: name, summary, data layouts, hyperparameters.

Free of torch (the API imports it). `recipe` names, in training/recipes/, how a run of the
family trains, exports and publishes; only the training worker and the CLI import recipes.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    task: str  # the task of the model it produces: generate, translate or upscale
    layouts: tuple[str, ...]  # dataset layouts it can train on
    hyperparameters: type[BaseModel]  # what a request may set; its defaults are the family's
    recipe: str  # key of training.recipes.table.RECIPES
    conditional: bool = False  # trains on class labels (a `classes` dataset with at least 2)
    options: dict[str, Any] = field(default_factory=dict, hash=False)  # handed to the recipe as they are


def by_name(*families: Family) -> dict[str, Family]:
    table: dict[str, Family] = {}
    for family in families:
        if family.name in table:
            raise ValueError(f"two families are named {family.name!r}")
        table[family.name] = family
    return table
