"""The schedule the trainers share: seeded streams, so that what step s sees depends on (seed, s)
alone; learning rates set by name; and the phases a run goes through."""

from dataclasses import dataclass

import numpy as np
import torch


def derived_seed(seed: int, stream: str, counter: int) -> int:
    """An independent 63-bit seed for each (run seed, stream, counter)."""
    entropy = [seed, counter, *stream.encode()]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


class BatchSchedule:
    """Epochs of shuffled, full batches; the order of epoch e depends on (seed, e) only."""

    def __init__(self, size: int, batch_size: int, seed: int, device: torch.device | str = "cpu"):
        self.size, self.seed, self.device = size, seed, torch.device(device)
        self.batch_size = min(batch_size, size)
        self.per_epoch = size // self.batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.int64)

    def indices(self, step: int) -> torch.Tensor:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            shuffle = torch.Generator().manual_seed(derived_seed(self.seed, "order", epoch))
            # Drawn on the host (the same order on every device), moved once per epoch.
            self._epoch, self._order = epoch, torch.randperm(self.size, generator=shuffle).to(self.device)
        return self._order[position * self.batch_size : (position + 1) * self.batch_size]


def set_learning_rates(optimizers: dict[str, torch.optim.Optimizer], rates: dict[str, float]) -> None:
    """Set each named optimizer's learning rate (all its parameter groups) to `rates[name]`."""
    for name, rate in rates.items():
        for group in optimizers[name].param_groups:
            group["lr"] = rate


@dataclass(frozen=True)
class Phase:
    """A stretch of steps [start, stop) trained one way, e.g. SR's "pretrain" (L1 alone), then "gan".

    Phases differ in cost per step, so a time estimate should use each phase's own rate."""

    name: str
    start: int
    stop: int


def training_phases(steps: int, *boundaries: tuple[str, int]) -> list[Phase]:
    """Phases that split [0, steps) at the given (name, first step) boundaries; empty ones are left out.

    With no boundaries there is one phase, "train". training_phases(10, ("pretrain", 0), ("gan", 4))
    is pretrain [0, 4) then gan [4, 10)."""
    marks = list(boundaries) or [("train", 0)]
    stops = [start for _, start in marks[1:]] + [steps]
    phases = [Phase(name, start, stop) for (name, start), stop in zip(marks, stops) if stop > start]
    return phases or [Phase(marks[0][0], 0, steps)]


def phase_at(phases: list[Phase], step: int) -> Phase:
    """The phase that step (0-based) belongs to; steps past the end count to the last phase."""
    return next((phase for phase in phases if step < phase.stop), phases[-1])


def learning_rate_factor(step: int, steps: int, decay_fraction: float) -> float:
    """1 for the first (1 - decay_fraction) of the run, then linearly down to 0 at the end."""
    decay_steps = round(steps * decay_fraction)
    constant = steps - decay_steps
    if decay_steps == 0 or step < constant:
        return 1.0
    return max(0.0, 1.0 - (step - constant) / decay_steps)
