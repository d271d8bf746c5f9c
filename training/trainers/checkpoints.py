"""Training checkpoints as safetensors plus JSON: loading one never runs code (no pickle).

A checkpoint for step S is two files in one folder:

    step-00000S.safetensors   every tensor: module weights and buffers, optimizer moments
    step-00000S.json          everything else: step, config, optimizer hyperparameters

The JSON is written last, after the tensors are in place, so a checkpoint without its JSON is
an interrupted write and is ignored.
"""

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel
from safetensors.torch import load_file, save_file
from torch import nn

from training.families.shared import RESUMABLE_HYPERPARAMETERS

_STEM = re.compile(r"^step-(\d+)\.json$")


def checkpoint_stem(folder: Path, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}"


def latest_checkpoint(folder: Path | None) -> Path | None:
    """The stem (path without suffix) of the newest complete checkpoint in `folder`, if any."""
    if folder is None or not Path(folder).is_dir():
        return None
    steps = [int(m.group(1)) for p in Path(folder).iterdir() if (m := _STEM.match(p.name))]
    complete = [s for s in steps if checkpoint_stem(folder, s).with_suffix(".safetensors").is_file()]
    return checkpoint_stem(folder, max(complete)) if complete else None


def save_checkpoint(
    stem: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    meta: dict[str, Any],
    keep: int = 2,
) -> None:
    """Write modules, optimizers and `meta` (JSON-able) under `stem`; keep the newest `keep`."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = _host_copy(value)
    optimizer_meta = {}
    for name, optimizer in optimizers.items():
        state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, values in state["state"].items():
            for key, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"{name}.{index}.{key}"] = _host_copy(value)
                else:
                    scalars.setdefault(str(index), {})[key] = value
        optimizer_meta[name] = {"param_groups": state["param_groups"], "scalars": scalars}

    stem.parent.mkdir(parents=True, exist_ok=True)
    tensor_path, meta_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    _replace(tensor_path, lambda tmp: save_file(tensors, str(tmp)))
    text = json.dumps({**meta, "optimizers": optimizer_meta}, indent=2, sort_keys=True)
    _replace(meta_path, lambda tmp: tmp.write_text(text))
    _prune(stem.parent, keep)


def read_meta(stem: Path) -> dict[str, Any]:
    """The JSON half of a checkpoint, to check it before loading any tensors."""
    return json.loads(stem.with_suffix(".json").read_text())


def load_checkpoint(
    stem: Path, modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]
) -> dict[str, Any]:
    """Load tensors into `modules` and `optimizers` in place; return the JSON metadata.

    The tensors are read to the host and copied into the modules' own tensors, wherever those
    live, and an optimiser moves its state to its parameters' device: a run checkpointed on a
    GPU resumes on a CPU worker and back."""
    meta = read_meta(stem)
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    for name, module in modules.items():
        prefix = f"{name}."
        module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
    for name, optimizer in optimizers.items():
        saved = meta["optimizers"][name]
        state: dict[int, dict[str, Any]] = {}
        prefix = f"{name}."
        for key, value in tensors.items():
            if key.startswith(prefix) and key.count(".") == 2 and key.split(".")[1].isdigit():
                _, index, field = key.split(".")
                state.setdefault(int(index), {})[field] = value
        for index, scalars in saved["scalars"].items():
            state.setdefault(int(index), {}).update(scalars)
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    return meta


def _host_copy(value: torch.Tensor) -> torch.Tensor:
    """A tensor as a checkpoint keeps it: on the host, in the standard layout (a channels-last
    CUDA weight loads into a CPU run and back)."""
    return value.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)


def _replace(path: Path, write) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _prune(folder: Path, keep: int) -> None:
    steps = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _STEM.match(p.name)))
    for step in steps[:-keep] if keep > 0 else []:
        stem = checkpoint_stem(folder, step)
        stem.with_suffix(".json").unlink(missing_ok=True)  # the commit marker goes first
        stem.with_suffix(".safetensors").unlink(missing_ok=True)


# Settings that may change when a run is resumed; any other change means a different run.
RESUMABLE_CHANGES = frozenset({"steps", "checkpoint_every", *RESUMABLE_HYPERPARAMETERS})


class Checkpointer:
    """A trainer's checkpoint routine: resume from the newest checkpoint in `folder`, save every
    `config.checkpoint_every` steps, and once more when the loop ends.

    Each checkpoint's JSON holds `step`, `config` (config.model_dump()) and the entries of `meta`.
    With `folder` None nothing is saved or resumed; with checkpoint_every 0 nothing is saved, but
    an existing checkpoint is still resumed. `on_save(step, stem)` runs after each save.
    """

    def __init__(
        self,
        folder: Path | None,
        config: BaseModel,
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        meta: dict[str, Any] | None = None,
        resumable: frozenset[str] | set[str] = RESUMABLE_CHANGES,
        on_save: Callable[[int, Path], None] | None = None,
    ):
        self.folder, self.config, self.modules, self.optimizers = folder, config, modules, optimizers
        self.meta, self.resumable, self.on_save = dict(meta or {}), frozenset(resumable), on_save
        self.every = config.checkpoint_every
        self.enabled = folder is not None and self.every > 0
        self.resumed_meta: dict[str, Any] = {}  # the JSON of the checkpoint resumed from, if any

    def resume(self) -> int:
        """Load the newest checkpoint, if any, into the modules and optimizers; the step to start at.

        Raises ValueError naming the settings that differ from the checkpoint's, beyond `resumable`.
        """
        stem = latest_checkpoint(self.folder)
        if stem is None:
            return 0
        saved = type(self.config).model_validate(read_meta(stem)["config"])
        differ = {k for k, v in saved.model_dump().items() if getattr(self.config, k) != v} - self.resumable
        if differ:
            raise ValueError(f"checkpoint was made with different settings ({', '.join(sorted(differ))}); use a new folder")
        self.resumed_meta = load_checkpoint(stem, self.modules, self.optimizers)
        return self.resumed_meta["step"]

    def after_step(self, step: int) -> None:
        """Call with the number of steps done: saves on every `checkpoint_every`-th."""
        if self.enabled and step % self.every == 0:
            self.save(step)

    def finish(self, step: int) -> None:
        """After the loop (finished or aborted): save unless the newest checkpoint is this step,
        so the run can be picked up exactly where it stopped."""
        if self.enabled and latest_checkpoint(self.folder) != checkpoint_stem(self.folder, step):
            self.save(step)

    def save(self, step: int) -> None:
        meta = {"step": step, "config": self.config.model_dump(), **self.meta}
        stem = checkpoint_stem(self.folder, step)
        save_checkpoint(stem, self.modules, self.optimizers, meta)
        if self.on_save is not None:
            self.on_save(step, stem)
