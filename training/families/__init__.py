"""What POST /train can train, by name: one module per family, one line each in FAMILIES.

Free of torch: the API validates a request against this table. Each family names its recipe
(training/recipes/), which only the training worker and the CLI import. How to add a family:
a module here (its hyperparameters and `FAMILY = Family(...)`, see spec.py), its name in the
import below and one line in FAMILIES; a new training method also adds a recipe (training/recipes/).
"""

from training.families import (
    cdcgan,
    cyclegan,
    dcgan,
    esrgan,
    infogan,
    lsgan,
    pix2pix,
    sagan,
    srgan,
    stylegan2,
    wgan_gp,
)
from training.families.spec import Family, by_name

__all__ = ["FAMILIES", "Family"]

# In the order GET /train/architectures lists them.
FAMILIES: dict[str, Family] = by_name(
    dcgan.FAMILY,
    lsgan.FAMILY,
    wgan_gp.FAMILY,
    cdcgan.FAMILY,
    sagan.FAMILY,
    stylegan2.FAMILY,
    infogan.FAMILY,
    srgan.FAMILY,
    esrgan.FAMILY,
    pix2pix.FAMILY,
    cyclegan.FAMILY,
)
