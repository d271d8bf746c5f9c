"""How each family trains, exports and publishes, by the key its spec names (`Family.recipe`).

The torch side of the families: only the training worker (workers/training.py) and the CLI
(`python -m training`) import this table; the API reads the torch-free specs in
training/families/. A recipe is `recipe(session: TrainingSession) -> TrainingOutcome`
(training/session.py); it raises TrainingFailed for what the client should be told.
"""

from collections.abc import Callable

from training.outcome import TrainingOutcome
from training.recipes import dcgan, infogan, stylegan2, super_resolution, translation
from training.session import TrainingSession

Recipe = Callable[[TrainingSession], TrainingOutcome]

RECIPES: dict[str, Recipe] = {
    "dcgan": dcgan.recipe,
    "stylegan2": stylegan2.recipe,
    "infogan": infogan.recipe,
    "super_resolution": super_resolution.recipe,
    "pix2pix": translation.pix2pix,
    "cyclegan": translation.cyclegan,
}
