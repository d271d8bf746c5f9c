"""The architecture registry: `@register("name")` on a module class, `build("name", **config)` to make one.

It knows no member: each architecture module imports `register` from here, and
models/architectures.py is the list that imports the members. Callers build through
`models.architectures`, which guarantees every member has been registered.
"""

from collections.abc import Callable
from typing import TypeVar

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


def registered(name: str) -> type[nn.Module]:
    """The class registered under `name` (KeyError when there is none)."""
    return _ARCHITECTURES[name]
