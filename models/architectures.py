"""Every architecture, by name: the member list of the registry (models/registry.py).

A manifest stores an architecture's name and keyword arguments, so any saved generator can be
rebuilt from JSON alone with `build(name, **config)`. Members are listed here explicitly (never
discovered by file name), so a grep for a name finds where it is defined; the registry itself
imports none of them, and no member imports this module.
"""

from models import (  # noqa: F401  (registers them)
    cyclegan,
    dcgan,
    pix2pix,
    rrdb,
    sr_discriminator,
    srresnet,
    srvgg,
    stylegan2,
    stylegan2_port,
)
from models.registry import build, names, register, registered

__all__ = ["build", "names", "register", "registered"]
