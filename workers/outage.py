"""Riding out a Redis outage inside a worker.

A worker's writes to Redis fall into two kinds. A job's end (its status, outputs, error) must
not be lost: `ride_out` retries it with backoff for up to `outage_bound_s` (a setting) before it
gives up with `StoreUnavailable`, whose message says so. Progress, checkpoints announced and
cancel checks of a running training are re-sent or asked again on their next beat anyway:
`best_effort` lets one fail, so a training keeps training while Redis is away and re-syncs its
progress when it is back.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

log = logging.getLogger(__name__)

T = TypeVar("T")

# A full Redis (noeviction past maxmemory) refuses writes as an absent one does: ridden out alike.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.OutOfMemoryError, OSError)


class StoreUnavailable(Exception):
    """Redis stayed away for longer than the configured bound."""


def ride_out(call: Callable[[], T], bound_s: float, what: str, *, first_delay_s: float = 0.1,
             max_delay_s: float = 5.0, sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, tried again with doubling delays while Redis is unreachable, for up to `bound_s`."""
    deadline = time.monotonic() + bound_s
    delay = first_delay_s
    while True:
        try:
            return call()
        except REDIS_DOWN as error:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(
                    f"the job store (Redis) was unreachable for more than {bound_s:g} s while {what}: {error}"
                ) from error
            log.warning("Redis unreachable while %s (%s); trying again in %.1f s", what, error, min(delay, left))
            sleep(min(delay, left))
            delay = min(delay * 2, max_delay_s)


def best_effort(call: Callable[[], T], what: str, default: T = None) -> T:
    """`call()`, or `default` when Redis is away: the next beat sends it again."""
    try:
        return call()
    except REDIS_DOWN as error:
        log.info("Redis unreachable while %s (%s); carrying on", what, error)
        return default
