"""The training loop every trainer shares; a trainer supplies its nets, optimizers and one step.

Per step, in this order: ask `abort_fn` (True stops the run before the step); set the learning
rates; seed torch's global generator from (seed, step), for dropout; run the trainer's step;
update the moving average of the generator; save a checkpoint every `checkpoint_every` steps;
report progress; hand the nets to `sample_fn`. After the last step (or an abort) one more
checkpoint is saved, so the run can be picked up exactly where it stopped.

Everything a step draws depends on (seed, step) alone, and the loop's own state (weights,
optimizer moments, the average) lives in the checkpoint, so a run resumed at step s matches an
uninterrupted one on the same kind of device. The caller's global random state is left as it was.

The loop places the modules on its `Runtime`'s device (training/trainers/device.py) before it
copies the average, ends each step with the runtime (the fp16 loss scale's update), reads a
step's losses from the device in one transfer, and hands back the final generator on the CPU in
fp32 and the standard layout, so its export is the same wherever it trained.

The callbacks, passed to every trainer as keywords (`Callbacks`):
    progress_fn(step, total, losses, images_per_sec)  after every step; throttle in it if costly.
        A callback that also takes a `phase` keyword gets the step's `Phase` (name, start, stop).
    abort_fn()                                        before every step; True stops the run.
    sample_fn(step, nets)                             after every step, with the nets to sample
        from (the averaged generator when enabled); it must not change them.
    checkpoint_fn(step, stem)                         after every checkpoint is written.
"""

import copy
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import torch
from pydantic import BaseModel
from torch import nn

from training.trainers.checkpoints import Checkpointer
from training.trainers.device import Runtime
from training.trainers.schedule import (
    Phase,
    derived_seed,
    phase_at,
    set_learning_rates,
    training_phases,
)

ProgressFn = Callable[[int, int, dict[str, float], float], None]
AbortFn = Callable[[], bool]
SampleFn = Callable[[int, Any], None]
CheckpointFn = Callable[[int, Path], None]


class Callbacks(TypedDict, total=False):
    progress_fn: ProgressFn | None
    abort_fn: AbortFn | None
    sample_fn: SampleFn | None
    checkpoint_fn: CheckpointFn | None


@dataclass
class StepReport:
    """What one step of a trainer tells the loop."""

    losses: dict[str, float | torch.Tensor]  # tensors are read once the step is done, in one transfer
    images: int  # images trained on in the step, for images_per_sec (steps left / rate = time left)


@dataclass
class LoopOutcome:
    step: int  # steps done in all, counting those before a resume
    aborted: bool
    losses: dict[str, float] = field(default_factory=dict)  # the last step's


class TrainingLoop:
    """One run of a trainer's step function over `config.steps` steps (config: a pydantic model
    with steps, seed and checkpoint_every).

    `modules` and `optimizers` are what a checkpoint holds (and what a resume loads). With
    `generator` naming one of the modules and `ema_decay` > 0, the loop keeps a moving average
    of its weights, checkpointed as "<generator>_ema". `learning_rates(step)` answers
    {optimizer name: rate} for a step; `phases` split the steps for progress reporting.
    """

    def __init__(
        self,
        config: BaseModel,
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        callbacks: Callbacks,
        *,
        checkpoint_dir: Path | None = None,
        meta: dict[str, Any] | None = None,
        generator: str | None = None,
        ema_decay: float = 0.0,
        learning_rates: Callable[[int], dict[str, float]] | None = None,
        phases: list[Phase] | None = None,
        runtime: Runtime | None = None,
    ):
        unknown = set(callbacks) - set(Callbacks.__annotations__)
        if unknown:
            raise TypeError(f"unknown training callbacks: {', '.join(sorted(unknown))}")
        self.runtime = runtime or Runtime.for_run("cpu", "fp32")
        for module in modules.values():
            self.runtime.place(module)
        self.config, self.modules, self.optimizers = config, modules, optimizers
        self.steps, self.seed = config.steps, config.seed
        self.generator = modules[generator] if generator is not None else None
        self.ema = MovingAverage(self.generator, ema_decay) if self.generator is not None and ema_decay > 0 else None
        saved = dict(modules) if self.ema is None else {**modules, f"{generator}_ema": self.ema.module}
        self.checkpoints = Checkpointer(checkpoint_dir, config, saved, optimizers, meta=meta,
                                        on_save=callbacks.get("checkpoint_fn"))
        self.learning_rates = learning_rates
        self.phases = phases or training_phases(self.steps)
        self.progress_fn = _with_phase(callbacks.get("progress_fn"))
        self.abort_fn = callbacks.get("abort_fn")
        self.sample_fn = callbacks.get("sample_fn")

    @property
    def averaged(self) -> nn.Module:
        """The generator to sample and export: its moving average when enabled."""
        if self.generator is None:
            raise ValueError("this loop was given no generator")
        return self.ema.module if self.ema is not None else self.generator

    def run(self, train_step: Callable[[int], StepReport], nets: Callable[[], Any] | None = None) -> LoopOutcome:
        """Resume from the newest checkpoint, then call `train_step(step)` for each step left.
        `nets()` answers what `sample_fn` gets (by default the averaged generator)."""
        nets = nets or (lambda: self.averaged)
        step = self.checkpoints.resume()
        self.runtime.load_scaler_state(self.checkpoints.resumed_meta.get("grad_scaler", {}))
        for module in self.modules.values():
            module.train()
        outcome = LoopOutcome(step=step, aborted=False)
        device = self.runtime.device
        forked = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=forked):  # the per-step seeds stay out of the caller's random state
            while step < self.steps:
                if self.abort_fn is not None and self.abort_fn():
                    outcome.aborted = True
                    break
                started = time.perf_counter()
                phase = phase_at(self.phases, step)
                if self.learning_rates is not None:
                    set_learning_rates(self.optimizers, self.learning_rates(step))
                # Dropout draws from torch's global generator: seed it per step for determinism.
                torch.manual_seed(derived_seed(self.seed, "dropout", step))
                report = train_step(step)
                self.runtime.end_step()
                if self.ema is not None:
                    self.ema.update(self.generator, step)
                step += 1
                outcome.step, outcome.losses = step, _as_floats(report.losses)
                if self.runtime.scaler.is_enabled():  # fp16's loss scale resumes where it was
                    self.checkpoints.meta["grad_scaler"] = self.runtime.scaler_state()
                self.checkpoints.after_step(step)
                if self.progress_fn is not None:
                    rate = report.images / max(time.perf_counter() - started, 1e-9)
                    self.progress_fn(step, self.steps, outcome.losses, rate, phase=phase)
                if self.sample_fn is not None:
                    self.sample_fn(step, nets())
        self.checkpoints.finish(step)
        return outcome

    def final_generator(self, batches: Callable[[torch.Generator], tuple[torch.Tensor, ...]] | None = None) -> nn.Module:
        """A copy of the averaged generator in eval mode on the CPU (fp32, standard layout), its
        batch-norm statistics recomputed over seeded batches (`batches(rng)` answers one batch's
        inputs, drawn on the CPU) when given."""
        final = on_host(copy.deepcopy(self.averaged))
        if batches is not None:
            recalibrate_batchnorm(final, batches, self.seed)
        return final.eval()


def on_host(module: nn.Module) -> nn.Module:
    """The module on the CPU in fp32 and the standard layout: what export and parity expect."""
    return module.to("cpu", dtype=torch.float32, memory_format=torch.contiguous_format)


def _as_floats(losses: dict[str, float | torch.Tensor]) -> dict[str, float]:
    """A step's losses as floats, the tensors among them read from the device in one transfer."""
    on_device = [key for key, value in losses.items() if isinstance(value, torch.Tensor)]
    read = {}
    if on_device:
        stacked = torch.stack([losses[key].detach().float().reshape(()) for key in on_device])
        read = dict(zip(on_device, stacked.tolist()))
    return {key: read[key] if key in read else float(value) for key, value in losses.items()}


class MovingAverage:
    """An exponential moving average of a module's parameters; buffers are copied as they are."""

    def __init__(self, module: nn.Module, decay: float):
        self.module = copy.deepcopy(module).requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        # A shorter memory at first, so the average is not dominated by the random initial weights.
        decay = min(self.decay, (1 + step) / (10 + step))
        for mine, theirs in zip(self.module.parameters(), module.parameters()):
            mine.lerp_(theirs, 1.0 - decay)
        for mine, theirs in zip(self.module.buffers(), module.buffers()):
            mine.copy_(theirs)


@torch.no_grad()
def recalibrate_batchnorm(
    net: nn.Module, batches: Callable[[torch.Generator], tuple[torch.Tensor, ...]], seed: int, count: int = 20
) -> None:
    """Recompute batch-norm statistics as an exact average over `count` seeded batches.

    Eval mode uses running statistics, which lag behind the training weights and belong to a
    different network when the weights are an average; re-estimating them makes the exported
    net's eval-mode output match what its weights produce on a batch. Leaves `net` in eval mode.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    net.train()
    rng = torch.Generator().manual_seed(derived_seed(seed, "batchnorm", 0))
    with torch.random.fork_rng(devices=[]):  # dropout, active in train mode, draws from the global generator
        torch.manual_seed(derived_seed(seed, "batchnorm-dropout", 0))
        for _ in range(count):
            net(*batches(rng))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    net.eval()


def _with_phase(progress_fn: ProgressFn | None) -> Callable[..., None] | None:
    """`progress_fn` called with a `phase` keyword when it takes one, without it otherwise."""
    if progress_fn is None:
        return None
    try:
        parameters = inspect.signature(progress_fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read: call it the plain way
        parameters = []
    if any(p.name == "phase" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return progress_fn

    def plain(step: int, total: int, losses: dict[str, float], images_per_sec: float, *, phase: Phase) -> None:
        progress_fn(step, total, losses, images_per_sec)

    return plain
