"""Workers announce themselves in Redis, so /ready can tell whether anyone consumes a queue, and
which device each runs on with its memory (and /metrics every GPU the workers see)."""

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis

from service.core import keys

log = logging.getLogger(__name__)


class Presence:
    """A daemon thread that keeps `keys.worker(id)` alive while the worker process lives.

    The record holds the worker's id, queues, pid and start, the fields in `about` (its device,
    say) and what `figures()` answers at each beat (memory used and total, GPU figures)."""

    def __init__(self, client: redis.Redis, queues: list[str], interval_s: float, *, about: dict | None = None,
                 figures: Callable[[], dict] | None = None):
        self.client = client
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.base = {"id": self.worker_id, "host": socket.gethostname(), "queues": sorted(queues), "pid": os.getpid(),
                     "since": time.time(), **(about or {})}
        self.figures = figures
        self.interval_s = interval_s
        self._stop = threading.Event()

    @property
    def record(self) -> str:
        figures = {}
        if self.figures is not None:
            try:
                figures = self.figures()
            except Exception:  # a figure that cannot be read never costs the worker its presence
                log.warning("worker figures could not be read", exc_info=True)
        return json.dumps({**self.base, **figures})

    def start(self) -> None:
        threading.Thread(target=self._beat, name="presence", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self.client.delete(keys.worker(self.worker_id))
        except redis.RedisError:
            pass

    def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                key, ttl_s = keys.worker(self.worker_id), max(1, int(self.interval_s * 3))
                try:
                    self.client.set(key, self.record, ex=ttl_s)  # the figures of the moment
                except redis.ResponseError:
                    # A full Redis refuses the write: EXPIRE needs no memory, so the last record
                    # lives on (no /ready flap) until there is room again.
                    self.client.expire(key, ttl_s)
            except redis.RedisError:
                pass  # Redis is away; the next beat tries again
            self._stop.wait(self.interval_s)


def live_workers(client: redis.Redis) -> list[dict]:
    workers = []
    for key in client.scan_iter(match=f"{keys.WORKER_PREFIX}*", count=100):
        raw = client.get(key)
        if raw:
            workers.append(json.loads(raw))
    return workers
