"""Architectures by name: `@register("name")` on a module class, `build("name", **config)` to make one.

A manifest stores an architecture's name and keyword arguments, so any saved generator can be
rebuilt from JSON alone. Members are imported explicitly at the bottom of this file (never
discovered by file name), so a grep for a name finds where it is defined.
"""

from typing import Callable, TypeVar

from torch import nn

ModuleClass = TypeVar("ModuleClass", bound=type[nn.Module])

_ARCHITECTURES: dict[str, type[nn.Module]] = {}


def register(name: str) -> Callable[[ModuleClass], ModuleClass]:
    """Class decorator adding a module class under `name`; a name can be taken only once."""

    def add(cls: ModuleClass) -> ModuleClass:
        if name in _ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is already registered by {_ARCHITECTURES[name].__qualname__}")
        _ARCHITECTURES[name] = cls
        return cls

    return add


def build(name: str, **config) -> nn.Module:
    """A new module of the architecture `name`, built with `config` as keyword arguments."""
    try:
        cls = _ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(names())}") from None
    return cls(**config)


def names() -> list[str]:
    return sorted(_ARCHITECTURES)


# Members. Imported last because they import `register` from here.
# Super-resolution generators and their discriminator.
from models import cyclegan, dcgan, pix2pix, rrdb, sr_discriminator, srresnet  # noqa: E402,F401  # noqa: E402,F401
