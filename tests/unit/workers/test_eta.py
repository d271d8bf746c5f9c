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


def test_a_phase_warm_up_does_not_inflate_its_pace_and_the_last_phase_stands_in_meanwhile():
    clock = FakeClock()
    eta = PhaseClock(clock)
    for step in range(1, 11):  # pretrain: 0.1 s a step
        clock.now += 0.1
        eta.tick(step, "pretrain")
    clock.now += 4.0  # the first GAN step pays for allocation
    eta.tick(11, "gan")
    seconds, basis = eta.eta(11, 100, 100)
    assert abs(seconds - 89 * 0.1) < 1e-9 and "warms up" in basis
    for step in range(12, 31):  # then 0.5 s a step
        clock.now += 4.0 if step <= 13 else 0.5
        eta.tick(step, "gan")
    seconds, basis = eta.eta(30, 100, 100)
    assert abs(seconds - 70 * 0.5) < 1e-9 and basis == "measured"
