"""Writes that land together in one command: the staged writes of a new job (its record, its
indexes, its input bytes, its Celery message) sent as one script call instead of MULTI, each
command, EXEC.

`AtomicBatch(client)` takes commands as a pipeline does (`batch.hset(...)`, `batch.lpush(...)`:
the same staging calls, codec.py's and kombu's through queue.stage_message) and `await
batch.execute()` runs them all in one EVALSHA of `scripts.RUN`: atomic as a MULTI/EXEC (a script
runs alone, and is logged to the append-only file as one unit), one command and one round trip
on the wire instead of two more than the writes. A full Redis refuses the first write, so nothing
lands, and the client sees Redis's own OOM error, as from a refused EXEC.
"""

from typing import Any

import redis
import redis.asyncio as aioredis
from redis.commands.core import CoreCommands
from redis.exceptions import NoScriptError

from service.core.job_store import scripts


class _Batch(CoreCommands):
    """Commands taken as a pipeline takes them (each call answers the batch, so calls chain)."""

    def __init__(self, client: Any):
        self.client = client
        self.commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **options: Any) -> "_Batch":
        self.commands.append(args)
        return self

    def __len__(self) -> int:
        return len(self.commands)

    def argv(self) -> list[Any]:
        """The commands in scripts.RUN's format: each one's length, then its name and arguments."""
        flat: list[Any] = []
        for command in self.commands:
            flat += [len(command), *command]
        return flat


class AtomicBatch(_Batch):
    """On the API's event-loop client: `await batch.execute()`."""

    def __init__(self, client: aioredis.Redis):
        super().__init__(client)

    async def execute(self) -> None:
        if not self.commands:
            return
        flat = self.argv()
        try:
            await self.client.evalsha(scripts.RUN_SHA, 0, *flat)
        except NoScriptError:  # Redis lost its script cache (a restart): EVAL loads it again
            await self.client.eval(scripts.RUN, 0, *flat)


class SyncAtomicBatch(_Batch):
    """On a redis-py client (the workers' kombu bookkeeping, service/core/queue.py): `batch.execute()`."""

    def __init__(self, client: redis.Redis):
        super().__init__(client)

    def execute(self) -> None:
        if not self.commands:
            return
        flat = self.argv()
        try:
            self.client.evalsha(scripts.RUN_SHA, 0, *flat)
        except NoScriptError:
            self.client.eval(scripts.RUN, 0, *flat)
