"""How each family trains, exports and publishes, by the key its spec names (`Family.recipe`).

Imports torch through the recipes: only the training worker and the CLI import this table.
"""

from collections.abc import Callable

from training.recipes import dcgan, infogan, stylegan2, super_resolution, translation
from training.recipes.outcome import TrainingOutcome
from training.recipes.session import TrainingSession

Recipe = Callable[[TrainingSession], TrainingOutcome]

RECIPES: dict[str, Recipe] = {
    "dcgan": dcgan.recipe,
    "stylegan2": stylegan2.recipe,
    "infogan": infogan.recipe,
    "super_resolution": super_resolution.recipe,
    "pix2pix": translation.pix2pix,
    "cyclegan": translation.cyclegan,
}
