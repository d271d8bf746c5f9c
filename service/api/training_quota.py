"""A cap on the trainings one key has queued or running at once (GANFORGE_MAX_CONCURRENT_TRAININGS).

Each key's trainings are a sorted set in Redis (`keys.trainings_of`), scored by when they were
added. A new training first drops the members that are over (finished, canceled, expired), then
takes a slot in one Lua step (count and add together, so two concurrent requests can't both take
the last one), and swaps the slot for its job id once the job exists. Keys without a rate limit
(the local admin key) have no cap either.
"""

import json
import secrets
import time
from collections.abc import Awaitable, Callable

from service.api.errors import Problem
from service.api.jobs.plan import Submitted
from service.api.state import ApiState
from service.core import keys
from service.core.api_keys import UNLIMITED, ApiKey
from service.core.jobs import JobStatus

PENDING = "pending:"
PENDING_TTL_S = 120  # a slot whose request died before its job existed is given back after this

_TAKE = """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


async def _prune(client, key: str) -> None:
    members = [(m.decode(), score) for m, score in await client.zrange(key, 0, -1, withscores=True)]
    jobs = [m for m, _ in members if not m.startswith(PENDING)]
    pipe = client.pipeline(transaction=False)
    for job_id in jobs:
        pipe.hget(keys.job(job_id), "status")
    statuses = dict(zip(jobs, await pipe.execute() if jobs else []))
    stale_before = time.time() - PENDING_TTL_S
    over = [m for m, score in members
            if (m.startswith(PENDING) and score < stale_before)
            or (not m.startswith(PENDING) and (statuses[m] is None or JobStatus(json.loads(statuses[m])).is_terminal))]
    if over:
        await client.zrem(key, *over)


async def start_training(state: ApiState, caller: ApiKey, create: Callable[[], Awaitable[Submitted]]) -> Submitted:
    """`create()` the training job if the caller has a free slot; 429 otherwise."""
    if caller.rate == UNLIMITED:
        return await create()
    client = state.redis_async
    cap = state.settings.max_concurrent_trainings
    key = keys.trainings_of(caller.name)
    await _prune(client, key)
    slot = PENDING + secrets.token_hex(8)
    if not await client.eval(_TAKE, 1, key, cap, time.time(), slot, state.settings.job_ttl_s):
        raise Problem(
            429, "training-quota", "Too many trainings",
            f"the key {caller.name!r} may have {cap} trainings queued or running at once; wait for one to "
            "finish or cancel one", headers={"Retry-After": "30"},
        )
    try:
        submitted = await create()
    except BaseException:
        await client.zrem(key, slot)
        raise
    pipe = client.pipeline()
    pipe.zrem(key, slot)
    pipe.zadd(key, {submitted.job.id: time.time()})
    await pipe.execute()
    return submitted
