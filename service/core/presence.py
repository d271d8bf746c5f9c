"""Workers announce themselves in Redis, so /ready can tell whether anyone consumes a queue."""

import json
import os
import socket
import threading
import time

import redis

from service.core import keys


class Presence:
    """A daemon thread that keeps `keys.worker(id)` alive while the worker process lives."""

    def __init__(self, client: redis.Redis, queues: list[str], interval_s: float):
        self.client = client
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.record = json.dumps({"id": self.worker_id, "queues": sorted(queues), "pid": os.getpid(), "since": time.time()})
        self.interval_s = interval_s
        self._stop = threading.Event()

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
                # EXPIRE needs no memory, so presence lasts while a full Redis refuses writes (no /ready flap).
                if not self.client.expire(key, ttl_s):
                    self.client.set(key, self.record, ex=ttl_s)
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
