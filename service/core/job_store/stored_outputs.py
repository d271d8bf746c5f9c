"""When each output kept in the artifact store expires, and the hand-over between the worker that
writes one and the sweep that deletes it (workers/reaper.py, models/artifacts/outputs.py).

Outputs above GANFORGE_LARGE_OUTPUT_BYTES leave Redis: their bytes are an object named by their
SHA-256, and Redis keeps only a sorted set of (sha256, expiry time). Content-addressed, so two jobs
may share one object: each pushes its expiry (ZADD GT, never shortened), and the sweep deletes an
object only once the last of them has expired.

Input images above the same threshold leave Redis the same way: the API reserves and puts one
before it records the job that reads it, for as long as its Redis blob would have lived (the
result cache's TTL), and marks the job's params with `IMAGE_STORED` (an OIP v2 job's tensors:
`INPUTS_STORED`; service/api/jobs/large_inputs.py, workers/job_io.py). A job still queued past that time fails `input_expired`, as with a blob.

The race to close: a sweep deciding to delete an object while a new job writes the same bytes.
A worker *reserves* the digest (its expiry pushed) before its put; the sweep *claims* expired
digests (out of the set, a `sweeping` flag set) in one script, deletes the objects, then drops
the flags. A reservation made before the claim keeps the object (its time is not past); one made
after it finds the flag and waits until the delete is done, then puts the bytes again.
"""

import time
from typing import Any

import redis

from service.core import keys

IMAGE_STORED = "image_stored"  # in a job's params: its input image (image_sha256) is an object here, not a blob
INPUTS_STORED = "inputs_stored"  # the same for an OIP v2 job's input tensors (inputs_sha256)
STORED_MARKS = {"image_sha256": IMAGE_STORED, "inputs_sha256": INPUTS_STORED}  # the input's digest param -> its mark
SWEEP_FLAG_TTL_S = 300  # a sweeper that died mid-delete holds nobody up for longer
# KEYS[1]: the sorted set, KEYS[2]: the digest's sweeping flag. ARGV: digest, expiry. 0: being swept.
_RESERVE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
return 1
"""
# KEYS[1]: the sorted set. ARGV: now, at most how many, the flags' prefix, their TTL. Answers the digests claimed.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, digest in ipairs(due) do
  redis.call('ZREM', KEYS[1], digest)
  redis.call('SET', ARGV[3] .. digest, '1', 'EX', tonumber(ARGV[4]))
end
return due
"""


def expiry_of(ttl_s: int, now: float | None = None) -> float:
    return (time.time() if now is None else now) + ttl_s


def reserve(client: redis.Redis, sha256: str, expires_at: float, *, wait_s: float = 30.0) -> None:
    """Before writing the object: its expiry at least `expires_at`, once no sweep is deleting it."""
    deadline = time.monotonic() + wait_s
    while not client.eval(_RESERVE, 2, keys.STORED_OUTPUTS, keys.output_sweeping(sha256), sha256, expires_at):
        if time.monotonic() > deadline:
            raise TimeoutError(f"output {sha256} has been being swept for over {wait_s:g} s")
        time.sleep(0.05)


def stage_expiry(pipe: Any, sha256: str, expires_at: float) -> None:
    """The same expiry, written again with the job's end (the FINISH call): never shortened."""
    pipe.zadd(keys.STORED_OUTPUTS, {sha256: expires_at}, gt=True)


def claim_expired(client: redis.Redis, *, now: float | None = None, limit: int = 100) -> list[str]:
    """Digests whose time has passed, taken out of the set and flagged as being swept."""
    now = time.time() if now is None else now
    prefix = keys.output_sweeping("")
    return [d.decode() for d in client.eval(_CLAIM, 1, keys.STORED_OUTPUTS, now, limit, prefix, SWEEP_FLAG_TTL_S)]


def swept(client: redis.Redis, digests: list[str]) -> None:
    """The objects are deleted: a worker waiting to write one of them may go on."""
    if digests:
        client.delete(*[keys.output_sweeping(d) for d in digests])


def expires_at(client: redis.Redis, sha256: str) -> float | None:
    """When the stored output expires (None: it has expired, or was never stored)."""
    return client.zscore(keys.STORED_OUTPUTS, sha256)


async def expires_at_async(client: Any, sha256: str) -> float | None:
    return await client.zscore(keys.STORED_OUTPUTS, sha256)
