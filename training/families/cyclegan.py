"""CycleGAN (Zhu et al. 2017): unpaired image-to-image translation, both directions."""

from training.families.spec import Family
from training.translation_configs import CycleGANHyperparameters

FAMILY = Family(
    name="cyclegan",
    summary="CycleGAN (Zhu et al. 2017) on unpaired A/B images: two ResNet Gs (instance norm), PatchGAN Ds, "
    "LSGAN + 10 x cycle + 0.5 x identity, 50-image pool, Adam 2e-4 (0.5, 0.999), linear decay.",
    task="translate",
    layouts=("unpaired",),
    hyperparameters=CycleGANHyperparameters,
    recipe="cyclegan",
)
