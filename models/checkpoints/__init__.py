"""Checkpoints of other projects, read into GANForge models: the table of formats.

Each format is one module (models/checkpoints/<module>.py) with
`convert(checkpoints, options) -> Conversion` (the contract in base.py). Modules are imported
only when their format is used, so a format whose module is missing or broken answers for itself
and the others still work; and this package stays free of torch, so the API can list and check
format names without loading it.
"""

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

# Wire name -> module. A new format is a module and one line here.
FORMATS: dict[str, str] = {
    "realesrgan": "models.checkpoints.realesrgan",
    "basicsr": "models.checkpoints.basicsr",
    "junyanz": "models.checkpoints.junyanz",
    "pytorch-examples-dcgan": "models.checkpoints.pytorch_examples_dcgan",
    "stylegan2-pytorch": "models.checkpoints.stylegan2_pytorch",
}


class UnknownFormat(LookupError):
    """No format by that name, or its module is not installed; the message says which."""


def format_names() -> list[str]:
    return sorted(FORMATS)


def is_available(format_name: str) -> bool:
    """Whether the format is known and its module is on disk (found, not imported)."""
    module = FORMATS.get(format_name)
    return module is not None and importlib.util.find_spec(module) is not None


def check_format(format_name: str) -> None:
    """UnknownFormat unless `format_name` is a format this installation can read."""
    if format_name not in FORMATS:
        raise UnknownFormat(f"unknown format {format_name!r}; known formats: {', '.join(format_names())}")
    if not is_available(format_name):
        raise UnknownFormat(f"format {format_name!r} is not available in this installation")


def convert(format_name: str, checkpoints: Sequence[Any], options: Mapping[str, Any]) -> Any:
    """The format's Conversion of `checkpoints` (base.Checkpoint, loaded by loading.py).
    Raises UnknownFormat, or the format's CheckpointRejected."""
    check_format(format_name)
    module = importlib.import_module(FORMATS[format_name])
    return module.convert(checkpoints, options)
