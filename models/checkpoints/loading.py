"""Load one uploaded checkpoint file without running any code it carries.

Two readers only: safetensors (tensors and a JSON header, nothing executable) and
`torch.load(..., weights_only=True)`, whose unpickler builds tensors, containers and plain values
and refuses every other class. A pickle that needs code to load (an NVIDIA `.pkl`, a whole module
saved with `torch.save(model)`) is refused with the way out: save the state dict instead.
"""

import argparse
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from models.checkpoints.base import Checkpoint, CheckpointRejected

# What a plain pickle (torch.save's legacy format, or pickle.dump) starts with: the PROTO opcode.
PICKLE_MAGIC = b"\x80"
ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format since 1.6

# Harmless classes that projects save beside their weights: stylegan2-pytorch keeps its argparse
# options under "args". Building one sets attributes and runs nothing else.
SAFE_EXTRAS = (argparse.Namespace,)

SAVE_A_STATE_DICT = ("load it where you trust it and save its weights only: "
                     "torch.save(model.state_dict(), 'weights.pth') or safetensors.torch.save_file(...)")


def load_checkpoint(path: Path, filename: str | None = None) -> Checkpoint:
    """The file at `path` as a Checkpoint named `filename` (the name the user gave it)."""
    path = Path(path)
    filename = filename or path.name
    content = _load_safetensors(path, filename) if is_safetensors(path, filename) else _load_torch(path, filename)
    if not isinstance(content, Mapping):
        raise CheckpointRejected(f"{filename}: holds a {type(content).__name__}, not a dict of tensors; "
                                 f"{SAVE_A_STATE_DICT}")
    return Checkpoint(filename=filename, content=content)


def is_safetensors(path: Path, filename: str) -> bool:
    """By suffix, or by the layout: an 8-byte header length, then the JSON header's '{'."""
    if filename.endswith(".safetensors"):
        return True
    with Path(path).open("rb") as stream:
        head = stream.read(9)
    return len(head) == 9 and head[8:9] == b"{" and not head.startswith((PICKLE_MAGIC, ZIP_MAGIC))


def _load_safetensors(path: Path, filename: str) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointRejected(f"{filename}: not a readable safetensors file ({error})") from None


def _load_torch(path: Path, filename: str) -> object:
    with Path(path).open("rb") as stream:
        head = stream.read(4)
    try:
        with torch.serialization.safe_globals(list(SAFE_EXTRAS)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its note on pickle protocols: the refusal below says more
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if head.startswith((PICKLE_MAGIC, ZIP_MAGIC)):
            raise CheckpointRejected(_needs_code(filename, str(error))) from None
        raise _not_a_checkpoint(filename) from None
    except Exception:  # garbage trips the loader in ways of its own (a bad zip, EOF, IndexError, TypeError...)
        raise _not_a_checkpoint(filename) from None


def _needs_code(filename: str, message: str) -> str:
    """A pickle the weights-only unpickler refused: name the class it wanted, when it said."""
    wanted = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
    what = f"the class {wanted.group(1)}" if wanted else "code (classes or functions)"
    return (f"{filename}: a pickle that needs {what} to load, which GANForge never runs "
            f"(an NVIDIA .pkl or a whole saved model is such a file); {SAVE_A_STATE_DICT}")


def _not_a_checkpoint(filename: str) -> CheckpointRejected:
    return CheckpointRejected(f"{filename}: not a PyTorch or safetensors file")
