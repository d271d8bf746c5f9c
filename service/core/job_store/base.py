"""What every part of the store stands on: its client, its TTLs and, on the sync side, its scripts."""

from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from service.core.job_store import scripts


class SyncPart:
    """A part of the store on a redis-py client (the workers, the API's threads)."""

    def __init__(self, client: redis.Redis, *, job_ttl_s: int, output_ttl_s: int):
        self.redis = client
        self.job_ttl_s = job_ttl_s
        self.output_ttl_s = output_ttl_s
        self._transition = client.register_script(scripts.TRANSITION)
        self._take = client.register_script(scripts.TAKE)
        self._finish = client.register_script(scripts.FINISH)
        self._renew_lease = client.register_script(scripts.RENEW_LEASE)
        self._release_lease = client.register_script(scripts.RELEASE_LEASE)
        self._count_lost_run = client.register_script(scripts.COUNT_LOST_RUN)

    def _scripted(self, build: Callable[[redis.client.Pipeline], None]) -> list[Any]:
        """Run a pipeline that calls the store's scripts by SHA. (redis-py's own pipelined scripts
        first ask SCRIPT EXISTS, a round trip more on every call.) When Redis has lost its script
        cache (a restart), load them and run the pipeline again: its writes are idempotent."""
        for attempt in (1, 2):
            pipe = self.redis.pipeline(transaction=False)
            build(pipe)
            try:
                return pipe.execute()
            except redis.exceptions.NoScriptError:
                if attempt == 2:
                    raise
                for script in (self._transition, self._take, self._finish, self._renew_lease, self._release_lease):
                    self.redis.script_load(script.script)
        raise AssertionError("unreachable")


class AsyncPart:
    """A part of the store on a `redis.asyncio` client: the API's event loop, no thread."""

    def __init__(self, client: aioredis.Redis, *, job_ttl_s: int, output_ttl_s: int):
        self.redis = client
        self.job_ttl_s = job_ttl_s
        self.output_ttl_s = output_ttl_s
