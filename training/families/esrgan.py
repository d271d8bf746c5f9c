"""ESRGAN/RRDBNet super-resolution: srgan's recipe with a residual-in-residual dense generator."""

from training.families.spec import Family
from training.sr_configs import ESRGANHyperparameters

FAMILY = Family(
    name="esrgan",
    summary="ESRGAN/RRDBNet super-resolution x2/x4 (residual scaling 0.2): same two phases as srgan.",
    task="upscale",
    layouts=("images",),
    hyperparameters=ESRGANHyperparameters,
    recipe="super_resolution",
    options={"generator": "rrdbnet"},
)
