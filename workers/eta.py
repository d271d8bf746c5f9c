"""Time left in a training run, from the measured pace of each of its phases.

A run goes through phases (training/trainers/schedule.py: SR's "pretrain" then "gan", a single "train"
elsewhere) that cost differently per step: the GAN phase adds a discriminator, critic steps
make a WGAN step several updates. One rate for the whole run (what the ETA used to be) is wrong
by the ratio of their costs, 3-7x in practice. So the clock keeps, per phase, the wall time
between the progress reports of its steps: everything a step costs (the update, sample grids,
checkpoints, reports), measured where the job runs. Steps left in the current phase count at its
own pace (over its last WINDOW steps); steps of phases not reached yet at the pace of the last phase measured (there is
nothing better to go on until they start, and `eta_basis` says so).
"""

import time
from collections import deque

WINDOW = 24  # reports a pace is measured over: recent enough to follow a machine whose load changes
WARMUP = 3  # a phase's first steps pay for allocation and kernel selection (seconds, not milliseconds)


class _Pace:
    def __init__(self, step: int, t: float):
        self.started = step
        self.marks: deque[tuple[int, float]] = deque([(step, t)], maxlen=WINDOW)

    def add(self, step: int, t: float) -> None:
        if step - self.started <= WARMUP:
            self.marks.clear()  # the pace counts from the end of the warm-up
        self.marks.append((step, t))

    @property
    def seconds_per_step(self) -> float | None:
        (first_step, first_t), (last_step, last_t) = self.marks[0], self.marks[-1]
        steps = last_step - first_step
        return (last_t - first_t) / steps if steps > 0 else None


class PhaseClock:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._paces: dict[str, _Pace] = {}
        self._current: str | None = None
        self._previous: str | None = None

    def tick(self, step: int, phase_name: str) -> None:
        """Step `step` (steps done) of phase `phase_name` just finished."""
        now = self._clock()
        pace = self._paces.get(phase_name)
        if pace is None:
            # The phase's pace counts from its first report: the step before it belonged to another phase.
            self._paces[phase_name] = _Pace(step, now)
        else:
            pace.add(step, now)
        if phase_name != self._current and self._current is not None:
            self._previous = self._current
        self._current = phase_name

    def eta(self, step: int, total: int, phase_stop: int) -> tuple[float | None, str]:
        """(seconds left, basis): the current phase's steps left at its pace, the rest at the
        pace of the last phase measured; None until a pace is known."""
        pace = self._paces.get(self._current) if self._current else None
        rate = pace.seconds_per_step if pace else None
        basis = "measured"
        if rate is None and self._previous is not None:  # a phase still warming up: the last one's pace
            rate = self._paces[self._previous].seconds_per_step
            basis = "previous phase's pace while this one warms up"
        if rate is None:
            return None, "measuring"
        in_phase = max(0, min(phase_stop, total) - step)
        later = max(0, total - max(phase_stop, step))
        if later:
            basis += "; later phases not started, counted at this phase's pace"
        return in_phase * rate + later * rate, basis
