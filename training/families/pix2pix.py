"""pix2pix (Isola et al. 2017): paired image-to-image translation."""

from training.families.spec import Family
from training.translation_configs import Pix2PixHyperparameters

FAMILY = Family(
    name="pix2pix",
    summary="pix2pix (Isola et al. 2017) on paired A/B images: U-Net G, 70x70 PatchGAN on the (input, output) "
    "pair, vanilla GAN + 100 x L1, Adam 2e-4 (0.5, 0.999), linear decay over the second half.",
    task="translate",
    layouts=("paired",),
    hyperparameters=Pix2PixHyperparameters,
    recipe="pix2pix",
)
