"""SRGAN/MSRResNet super-resolution (training/sr_configs.py has the two phases and losses)."""

from training.families.spec import Family
from training.sr_configs import SRHyperparameters

FAMILY = Family(
    name="srgan",
    summary="SRGAN/MSRResNet super-resolution x2/x4: L1 pretraining, then L1 + feature loss + relativistic "
    "GAN (ESRGAN weights 1e-2 / 1 / 5e-3); feature matching unless VGG weights are configured.",
    task="upscale",
    layouts=("images",),
    hyperparameters=SRHyperparameters,
    recipe="super_resolution",
    options={"generator": "msrresnet"},
)
