"""`Idempotency-Key`: a client may repeat a POST that creates a job and get the same job back.

A key is remembered for 24 hours per owner and endpoint, in Redis, as `keys.idempotency(owner,
endpoint, key)` ->
{"body_sha256", "job_id"}. The first request claims the key with SET NX before it creates its job,
so two concurrent repeats make one job: the loser waits for the winner's job id. A repeat with the
same body answers the same job (200 once it is finished, 202 before, the same Location, and
`Idempotent-Replayed: true`); the same key with another body is a 422. A request that fails
(unknown model, full queue) gives its key back, so the client can retry it under the same key.

A router makes its job creation idempotent with one call, e.g. for /train:

    async def train(request: TrainRequest, state: StateDep, response: Response, wait_s: PreferWaitDep,
                    idempotency_key: IdempotencyKeyDep) -> Job:
        submitted = await create_once(state, "train", idempotency_key, request, response,
                                      lambda: submit_train(state, request))
        return await job_answer(state, submitted.job, response, wait_s)
"""

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Response
from pydantic import BaseModel

from service.api.caller import current_owner
from service.api.errors import Problem
from service.api.jobs.plan import Submitted
from service.api.state import ApiState
from service.core import keys
from service.core.jobs import Job

HEADER = "Idempotency-Key"
KEY_TTL_S = 24 * 3600
MAX_KEY_LENGTH = 255
CLAIM_WAIT_S = 10.0  # how long a repeat waits for a concurrent first request to create its job

# Gives the key back only while it still is this request's claim (no job id yet).
_RELEASE = """
local record = redis.call('GET', KEYS[1])
if record and cjson.decode(record)['job_id'] == cjson.null then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="Any unique string up to 255 characters: a repeat within 24 h with the same body "
            "answers the same job instead of creating another; with another body it is a 422.",
            examples=["5f1c9a3e-8d7b-4a21-9c0e-2b6f4d8a1e77"],
        ),
    ] = None,
) -> str | None:
    """The dependency: the header's value, checked."""
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        message = f"must be 1 to {MAX_KEY_LENGTH} characters, not {len(key)}" if key.strip() else "must not be empty"
        raise Problem(
            422, "validation-error", "The request is not valid", f"{HEADER} header: {message}",
            errors=[{"field": HEADER, "message": message, "type": "invalid_idempotency_key"}],
        )
    return key


async def create_once(state: ApiState, endpoint: str, key: str | None, body: BaseModel, response: Response,
                      create: Callable[[], Awaitable[Submitted]]) -> Submitted:
    """The job `create()` makes, or, for a key seen before with this body, the job it made then
    (on the event loop's client, as the job's creation itself)."""
    if key is None:
        return await create()
    client = state.redis_async
    record_key = keys.idempotency(current_owner() or "-", endpoint, key)
    # The validated request, so key order, spacing and spelled-out defaults don't make it "different".
    body_sha256 = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        claim = json.dumps({"body_sha256": body_sha256, "job_id": None})
        if await client.set(record_key, claim, nx=True, ex=KEY_TTL_S):
            return await _create_claimed(state, record_key, body_sha256, create)
        job = await _replay(state, record_key, body_sha256)
        if job is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return Submitted(job)
        if time.monotonic() > deadline:
            raise Problem(
                409, "idempotency-key-in-use", "Request in progress",
                f"another request with this {HEADER} is still creating its job; retry shortly",
                headers={"Retry-After": "1"},
            )
        await asyncio.sleep(0.02)  # the first request is creating its job, or gave the key back: look again


async def _create_claimed(state: ApiState, record_key: str, body_sha256: str,
                          create: Callable[[], Awaitable[Submitted]]) -> Submitted:
    client = state.redis_async
    try:
        submitted = await create()
    except BaseException:
        await client.eval(_RELEASE, 1, record_key)
        raise
    await client.set(record_key, json.dumps({"body_sha256": body_sha256, "job_id": submitted.job.id}), xx=True,
                     keepttl=True)
    return submitted


async def _replay(state: ApiState, record_key: str, body_sha256: str) -> Job | None:
    """The job a key names; None while it has none yet (or no longer exists)."""
    raw = await state.redis_async.get(record_key)
    if raw is None:
        return None
    record = json.loads(raw)
    if record["body_sha256"] != body_sha256:
        raise Problem(
            422, "idempotency-key-reused", "Idempotency-Key reused with another body",
            f"this {HEADER} was first sent with a different request body; use a new key for a new request",
            errors=[{"field": HEADER, "message": "already used with a different body", "type": "idempotency_key_reused"}],
        )
    if record["job_id"] is None:
        return None
    job = await state.jobs_async.get(record["job_id"])
    if job is None:
        await state.redis_async.delete(record_key)  # its job expired before the key did: the key is free again
    return job
