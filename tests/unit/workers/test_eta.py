"""The ETA counts each phase at its own measured pace (workers/eta.py), with a clock we drive."""

from workers.eta import PhaseClock


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_slower_second_phase_is_counted_at_its_own_pace_once_it_runs():
    clock = FakeClock()
    eta = PhaseClock(clock)
    assert eta.eta(0, 100, 20) == (None, "measuring")
    for step in range(1, 21):  # pretrain: 0.1 s a step
        clock.now += 0.1
        eta.tick(step, "pretrain")
    seconds, basis = eta.eta(20, 100, 20)
    assert abs(seconds - 80 * 0.1) < 1e-9 and "not started" in basis  # nothing better known yet
    for step in range(21, 41):  # gan: 0.5 s a step
        clock.now += 0.5
        eta.tick(step, "gan")
    seconds, basis = eta.eta(40, 100, 100)
    # the gan phase's own pace, not diluted by pretrain's 0.1 s
    assert abs(seconds - 60 * 0.5) < 1e-9 and basis == "measured"
