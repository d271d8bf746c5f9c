"""What every checkpoint format shares: the file as loaded (safely), the conversion it becomes, and
refusals that name what is wrong.

A format module (models/checkpoints/<format>.py) exposes one function,

    convert(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any]) -> Conversion

that reads the reference project's parameter names and shapes, infers every option the shapes
decide, builds GANForge modules computing what the reference network computes, and raises
CheckpointRejected (never KeyError or RuntimeError) for anything it cannot map.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from models.manifest import Signature, Task

StateDict = dict[str, torch.Tensor]

# How many offending keys a refusal names: enough to recognise the layout, short enough to read.
NAMED_KEYS = 5


class CheckpointRejected(ValueError):
    """The checkpoint cannot become a GANForge model; the message says why, for the user."""


@dataclass(frozen=True)
class Checkpoint:
    """One uploaded file as loaded: `content` is what the file held (a flat dict of tensors, or the
    nested dicts a project saves, e.g. {"params_ema": {...}} or {"g_ema": {...}, "latent_avg": t})."""

    filename: str
    content: Mapping[str, Any]


@dataclass
class Conversion:
    """A checkpoint turned into modules ready for ONNX export.

    networks: generate and upscale -> {"generator": module}; translate -> {"a2b": m[, "b2a": m]}.
    signature: the version's signature; None only for style generators, whose signature the style
    export derives from the module (models/style_export.py).
    """

    task: Task
    architecture: str
    config: dict[str, Any]
    options: dict[str, Any]
    networks: dict[str, nn.Module]
    signature: Signature | None
    style: bool = False
    notes: list[str] = field(default_factory=list)


def tensors_of(content: Mapping[str, Any], prefer: tuple[str, ...] = ()) -> StateDict:
    """The state dict inside `content`: the first of `prefer` present (e.g. "params_ema", "params"),
    else `content` itself when it is all tensors."""
    for key in prefer:
        if isinstance(content.get(key), Mapping):
            return _all_tensors(content[key], key)
    return _all_tensors(content, None)


def _all_tensors(mapping: Mapping[str, Any], where: str | None) -> StateDict:
    odd = [k for k, v in mapping.items() if not isinstance(v, torch.Tensor)]
    if odd:
        place = f" under {where!r}" if where else ""
        raise CheckpointRejected(f"expected a state dict of tensors{place}; these entries are not tensors: "
                                 f"{', '.join(map(str, odd[:NAMED_KEYS]))}")
    return dict(mapping)


def check_tensors(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], *,
                  what: str) -> None:
    """Refuse unless `state` has exactly `expected`'s keys with those shapes, naming the first few
    missing, unexpected and mis-shaped tensors."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k])})"
                 for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
        if keys:
            more = f" and {len(keys) - NAMED_KEYS} more" if len(keys) > NAMED_KEYS else ""
            problems.append(f"{label} tensors: {', '.join(keys[:NAMED_KEYS])}{more}")
    if problems:
        raise CheckpointRejected(f"not a {what} checkpoint: " + "; ".join(problems))


def option(options: Mapping[str, Any], name: str, default: Any, allowed: tuple | None = None) -> Any:
    """An option the shapes cannot decide, with the reference project's default."""
    value = options.get(name, default)
    if allowed is not None and value not in allowed:
        raise CheckpointRejected(f"option {name}={value!r} is not one of {', '.join(map(repr, allowed))}")
    return value
