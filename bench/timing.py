"""Timing several cases side by side: interleaved rounds, so machine noise hits them all alike."""

import statistics
import time
from collections.abc import Callable


def interleaved(cases: dict[str, Callable[[], object]], *, rounds: int, round_s: float) -> dict[str, dict]:
    """Seconds per call of each case: every round runs each case for about `round_s`, in turn.

    Answers, per case, the median over rounds of the mean call time (robust to a noisy round),
    the best round, and the number of calls made.
    """
    for fn in cases.values():  # one untimed call each: allocation, kernel choice, caches
        fn()
    per_round: dict[str, list[float]] = {name: [] for name in cases}
    calls: dict[str, int] = {name: 0 for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            count, started = 0, time.perf_counter()
            while True:
                fn()
                count += 1
                elapsed = time.perf_counter() - started
                if elapsed >= round_s:
                    break
            per_round[name].append(elapsed / count)
            calls[name] += count
    return {
        name: {
            "median_s": statistics.median(times),
            "best_s": min(times),
            "rounds": len(times),
            "calls": calls[name],
        }
        for name, times in per_round.items()
    }
