"""Jobs, their events and their outputs in Redis, shared by the API and the workers.

A job is a Redis hash whose fields are JSON values, so one field changes without rewriting the
rest, and a status change is a compare-and-set in a Lua script: the API cancelling and a worker
starting the same job can't both win. Every change is also appended to the job's event stream,
which `Prefer: wait` and the SSE endpoint read without polling.

Outputs are content-addressed blobs with a TTL (the result cache); a finished deterministic
request also leaves a cache entry that points at its blobs.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import redis

from service.core import keys
from service.core.jobs import Job, JobOutput, JobStatus

EVENTS_MAXLEN = 1000
MAX_BLOCK_MS = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


# KEYS: job hash, event stream, set of running jobs, the events channel (told the job id and its
# new status, so a waiter for the end sleeps through the rest), the index of queued jobs (a job
# that leaves `queued` leaves it).
# ARGV: allowed current statuses (comma separated JSON strings), stream length, what to do with
# the running set on success ('add', 'remove', or 'keep'; 'remove' happens even when the move is refused, since the caller is done
# with the job either way), '1' to answer the whole record, the job id, then field/value pairs
# to write, "status" first (so ARGV[7] is the new status, announced without reading it back),
# up to ARGV[last] (each script using this body sets `last` first).
# Answers {status found, record...}; the write happened only if that status was allowed.
_MOVE = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {false} end
if ARGV[3] == 'remove' then redis.call('SREM', KEYS[3], ARGV[5]) end
local allowed = false
for status in string.gmatch(ARGV[1], '[^,]+') do
  if status == current then allowed = true end
end
if allowed then
  local fields = {}
  for i = 6, last do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', 'status', 'data', ARGV[7])
  redis.call('PUBLISH', KEYS[4], ARGV[5] .. ' ' .. ARGV[7])
  if current == '"queued"' then redis.call('ZREM', KEYS[5], ARGV[5]) end
  if ARGV[3] == 'add' then redis.call('SADD', KEYS[3], ARGV[5]) end
end
if ARGV[4] == '1' then return {current, redis.call('HGETALL', KEYS[1])} end
return {current}
"""
_TRANSITION = "local last = #ARGV\n" + _MOVE
# A worker taking a job: its lease (KEYS[6]) for the owner and TTL that end ARGV, kept if the owner
# holds it already (a retried round trip), then the transition. {false, 'leased'}: someone else's.
_TAKE = """
local last = #ARGV - 2
local holder = redis.call('GET', KEYS[6])
if holder and holder ~= ARGV[#ARGV - 1] then return {false, 'leased'} end
redis.call('SET', KEYS[6], ARGV[#ARGV - 1], 'EX', ARGV[#ARGV])
""" + _MOVE

# A lease is renewed or released only by the worker that holds it.
# A lease that lapsed while Redis was away (its TTL ran out during an outage) is taken back by
# its holder if nobody took it meanwhile: the job never stopped running.
_RENEW_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0
"""
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class JobStore:
    def __init__(self, client: redis.Redis, *, job_ttl_s: int, output_ttl_s: int):
        self.redis = client
        self.job_ttl_s = job_ttl_s
        self.output_ttl_s = output_ttl_s
        self._transition = client.register_script(_TRANSITION)
        self._take = client.register_script(_TAKE)
        self._renew_lease = client.register_script(_RENEW_LEASE)
        self._release_lease = client.register_script(_RELEASE_LEASE)

    # -- records -----------------------------------------------------------------------------

    def create(self, job: Job, task: dict[str, Any] | None = None, *,
               also: Callable[[redis.client.Pipeline], None] | None = None) -> None:
        """Record a new job, and with `task` ({name, queue, kwargs}) how it is queued, so the
        reaper can queue it again; `also` adds the caller's own writes to the same round trip."""
        pipe = self.redis.pipeline()
        self.stage_create(pipe, job, task)
        if also is not None:
            also(pipe)
        pipe.execute()

    def stage_create(self, pipe: Any, job: Job, task: dict[str, Any] | None = None) -> None:
        """Queue `create`'s writes on a pipeline of the caller's: a sync one, or an asyncio one on
        the API's event loop (queueing a command is the same call on both)."""
        pipe.hset(keys.job(job.id), mapping=_encode(job.model_dump(mode="json")))
        pipe.expire(keys.job(job.id), self.job_ttl_s)
        pipe.xadd(keys.job_events(job.id), _event("status", job.status.value), maxlen=EVENTS_MAXLEN)
        pipe.expire(keys.job_events(job.id), self.job_ttl_s)
        if task is not None:
            pipe.set(keys.job_task(job.id), json.dumps(task), ex=self.job_ttl_s)
            pipe.zadd(keys.QUEUED, {job.id: time.time()})

    def get(self, job_id: str) -> Job | None:
        raw = self.redis.hgetall(keys.job(job_id))
        return _decode_record(raw) if raw else None

    def get_many(self, job_ids: list[str]) -> list[Job | None]:
        """Several jobs in one round trip, None where one expired."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(keys.job(job_id))
        return [_decode_record(raw) if raw else None for raw in pipe.execute()]

    def owner(self, job_id: str) -> str | None:
        """Who the job belongs to (None: no such job, or one from before keys had owners)."""
        raw = self.redis.hget(keys.job(job_id), "owner")
        return json.loads(raw) if raw else None

    def status(self, job_id: str) -> JobStatus | None:
        raw = self.redis.hget(keys.job(job_id), "status")
        return JobStatus(json.loads(raw)) if raw else None

    def transition(self, job_id: str, allowed: Iterable[JobStatus], to: JobStatus, **fields: Any) -> JobStatus | None:
        """Move a job to `to` if its status is one of `allowed`; answers the status it had.

        The caller compares the answer with `allowed` to learn whether it won.
        """
        found, _ = self._move(job_id, allowed, to, fields)
        return found

    def start(self, job_id: str, **fields: Any) -> tuple[JobStatus | None, Job | None]:
        """A worker takes the job: queued (or running, when its last worker died) -> running,
        marked in the running set for the reaper. Answers the status found and the job."""
        return self._move(job_id, {JobStatus.queued, JobStatus.running}, JobStatus.running, fields,
                          running="add", answer_job=True)

    def finish(self, job_id: str, to: JobStatus, *, before: Callable[[redis.client.Pipeline], None] | None = None,
               **fields: Any) -> JobStatus | None:
        """running -> `to`, and off the running set whether or not the job was still running.
        `before` puts writes on the same round trip, ahead of the status change (the job's outputs)."""
        if before is None:
            found, _ = self._move(job_id, {JobStatus.running}, to, fields, running="remove")
            return found
        def build(pipe: redis.client.Pipeline) -> None:
            before(pipe)
            self._move_call(job_id, {JobStatus.running}, to, fields, running="remove", answer_job=False, pipe=pipe)
        found, _ = _moved(self._scripted(build)[-1], False)
        return found

    def take_many(self, job_ids: list[str], owner: str, ttl_s: int,
                  **fields: Any) -> list[tuple[JobStatus | None, Job | None] | None]:
        """A worker takes the jobs of one message in one round trip: each job's lease for `owner`
        (kept if `owner` has it already) and, with the lease, `start`. None for a job whose lease
        another worker holds; else what `start` answers."""
        def build(pipe: redis.client.Pipeline) -> None:
            for job_id in job_ids:
                self._move_call(job_id, {JobStatus.queued, JobStatus.running}, JobStatus.running, fields,
                                running="add", answer_job=True, pipe=pipe, lease=(owner, ttl_s))
        return [None if answer[-1] == b"leased" else _moved(answer, True) for answer in self._scripted(build)]

    def _move(self, job_id: str, allowed: Iterable[JobStatus], to: JobStatus, fields: dict[str, Any], *,
              running: str = "keep", answer_job: bool = False) -> tuple[JobStatus | None, Job | None]:
        return _moved(self._move_call(job_id, allowed, to, fields, running=running, answer_job=answer_job), answer_job)

    def _move_call(self, job_id: str, allowed: Iterable[JobStatus], to: JobStatus, fields: dict[str, Any], *,
                   running: str, answer_job: bool, pipe: redis.client.Pipeline | None = None,
                   lease: tuple[str, int] | None = None) -> Any:
        """The transition script, called now or, with `pipe`, queued on it (see `_scripted`);
        with `lease` (owner, TTL), the script that takes the job's lease first."""
        values = _encode({"status": to.value, **fields})  # status first: the script announces ARGV[7]
        flat = [item for pair in values.items() for item in pair]
        script_keys = [keys.job(job_id), keys.job_events(job_id), keys.RUNNING, keys.EVENTS_CHANNEL, keys.QUEUED]
        args = [",".join(json.dumps(s.value) for s in allowed), EVENTS_MAXLEN, running, "1" if answer_job else "0",
                job_id, *flat]
        script = self._transition
        if lease is not None:
            script, script_keys, args = self._take, [*script_keys, keys.lease(job_id)], [*args, *lease]
        if pipe is not None:
            return pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
        return script(keys=script_keys, args=args)

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
                for script in (self._transition, self._take, self._renew_lease, self._release_lease):
                    self.redis.script_load(script.script)
        raise AssertionError("unreachable")

    def update(self, job_id: str, event: str, data: Any = None, **fields: Any) -> None:
        """Write fields of a running job (progress, outputs) and announce them as `event`, whose
        data is `data` when given, else the fields."""
        pipe = self.redis.pipeline()
        pipe.hset(keys.job(job_id), mapping=_encode(fields))
        pipe.xadd(keys.job_events(job_id), _event(event, fields if data is None else data), maxlen=EVENTS_MAXLEN)
        pipe.publish(keys.EVENTS_CHANNEL, job_id)  # wakes the API's waiters (service/api/event_hub.py)
        pipe.execute()

    def emit(self, job_id: str, event: str, data: Any) -> None:
        """Announce an event that changes nothing in the record (a checkpoint was written)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(keys.job_events(job_id), _event(event, data), maxlen=EVENTS_MAXLEN)
        pipe.publish(keys.EVENTS_CHANNEL, job_id)
        pipe.execute()

    def events(self, job_id: str, after: str = "0-0", block_ms: int | None = None) -> list[tuple[str, str, Any]]:
        """Events after the stream id `after`: (id, event, data), waiting up to block_ms for one.

        A wait is cut to MAX_BLOCK_MS: a blocking read longer than the client's socket timeout
        would look like a dead Redis. Callers loop.
        """
        block = None if block_ms is None else max(1, min(block_ms, MAX_BLOCK_MS))
        answer = self.redis.xread({keys.job_events(job_id): after}, block=block)
        if not answer:
            return []
        return [
            (entry_id.decode(), fields[b"event"].decode(), json.loads(fields[b"data"]))
            for entry_id, fields in answer[0][1]
        ]

    def wait(self, job_id: str, timeout_s: float) -> Job | None:
        """The job once it is terminal, or as it stands when `timeout_s` runs out."""
        deadline = time.monotonic() + timeout_s
        after = "0-0"  # from the start of the stream: an end that came before this call still counts
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                return self.get(job_id)
            events = self.events(job_id, after, block_ms=remaining_ms)
            if not events and not self.redis.exists(keys.job(job_id)):
                return None
            for entry_id, event, data in events:
                after = entry_id
                if event == "status" and JobStatus(data).is_terminal:
                    return self.get(job_id)

    # -- outputs and the result cache ----------------------------------------------------------

    def put_blob(self, data: bytes, ttl_s: int | None = None) -> str:
        """Store bytes under their SHA-256 (an input image, say); answers the digest."""
        digest = hashlib.sha256(data).hexdigest()
        self.redis.set(keys.blob(digest), data, ex=ttl_s or self.output_ttl_s)
        return digest

    def put_outputs(self, job_id: str, items: list[tuple[str, bytes, str]], ttl_s: int | None = None) -> list[JobOutput]:
        """Store (name, bytes, content type) triples as blobs for `ttl_s` (default: the result
        cache's TTL); answers the job's output entries."""
        outputs = output_entries(job_id, items)
        pipe = self.redis.pipeline(transaction=False)
        self.stage_blobs(pipe, outputs, items, ttl_s)
        pipe.execute()
        return outputs

    def stage_blobs(self, pipe: redis.client.Pipeline, outputs: list[JobOutput], items: list[tuple[str, bytes, str]],
                    ttl_s: int | None = None) -> None:
        """The bytes of `output_entries(job_id, items)`, as writes on the caller's pipeline."""
        for output, (_, data, _) in zip(outputs, items, strict=True):
            pipe.set(keys.blob(output.sha256), data, ex=ttl_s or self.output_ttl_s)

    def get_blob(self, sha256: str) -> bytes | None:
        return self.redis.get(keys.blob(sha256))

    def cache_put(self, digest: str, job_id: str, outputs: list[JobOutput], metrics: dict[str, Any], *,
                  owner: str | None = None, pipe: redis.client.Pipeline | None = None) -> None:
        entry = {"job_id": job_id, "owner": owner, "outputs": [o.model_dump() for o in outputs], "metrics": metrics}
        (pipe or self.redis).set(keys.result_cache(digest), json.dumps(entry), ex=self.output_ttl_s)

    def cache_get(self, digest: str) -> dict[str, Any] | None:
        """A cached answer whose blobs are all still there, or None."""
        raw = self.redis.get(keys.result_cache(digest))
        if raw is None:
            return None
        entry = json.loads(raw)
        blobs = cache_blobs(entry)
        if blobs and self.redis.exists(*blobs) != len(blobs):
            return None  # evicted under memory pressure: compute again
        return entry

    # -- leases: one job never runs twice at once -----------------------------------------------

    def acquire_lease(self, job_id: str, owner: str, ttl_s: int) -> bool:
        return bool(self.redis.set(keys.lease(job_id), owner, nx=True, ex=ttl_s))

    def renew_lease(self, job_id: str, owner: str, ttl_s: int) -> bool:
        return bool(self._renew_lease(keys=[keys.lease(job_id)], args=[owner, ttl_s]))

    def renew_leases(self, leases: list[tuple[str, str, int]]) -> list[bool]:
        """Renew several (job id, owner, ttl) leases in one round trip; answers which were renewed."""
        def build(pipe: redis.client.Pipeline) -> None:
            for job_id, owner, ttl_s in leases:
                pipe.evalsha(self._renew_lease.sha, 1, keys.lease(job_id), owner, ttl_s)
        return [bool(answer) for answer in self._scripted(build)]

    def release_lease(self, job_id: str, owner: str) -> None:
        self._release_lease(keys=[keys.lease(job_id)], args=[owner])

    def release_leases(self, job_ids: list[str], owner: str) -> None:
        """`release_lease` for the jobs of one message, in one round trip."""
        if job_ids:
            def build(pipe: redis.client.Pipeline) -> None:
                for job_id in job_ids:
                    pipe.evalsha(self._release_lease.sha, 1, keys.lease(job_id), owner)
            self._scripted(build)

    # -- recovery: which task a job is, and which jobs are running -------------------------------

    def get_task(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(keys.job_task(job_id))
        return json.loads(raw) if raw else None

    def forget_running(self, job_id: str) -> None:
        self.redis.srem(keys.RUNNING, job_id)

    def running_without_lease(self) -> list[str]:
        """Jobs marked running whose worker stopped renewing the lease: it died."""
        ids = [i.decode() for i in self.redis.smembers(keys.RUNNING)]
        return [job_id for job_id, leased in zip(ids, self.leased(ids)) if not leased]

    def note_received(self, job_id: str, worker_id: str) -> None:
        """A worker fetched the job's message (it may sit in its prefetch buffer, unstarted)."""
        self.redis.hset(keys.RECEIVED, job_id, worker_id)

    def note_received_all(self, job_ids: list[str], worker_id: str) -> None:
        """`note_received` for the jobs of one message (a coalesced one carries several), in one write."""
        if job_ids:
            self.redis.hset(keys.RECEIVED, mapping={job_id: worker_id for job_id in job_ids})

    def received(self) -> dict[str, str]:
        """Job id -> the worker that fetched its message, for jobs not yet seen past `queued`."""
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(keys.RECEIVED).items()}

    def forget_received(self, *job_ids: str) -> None:
        if job_ids:
            self.redis.hdel(keys.RECEIVED, *job_ids)

    def leased(self, job_ids: list[str]) -> list[bool]:
        if not job_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.exists(keys.lease(job_id))
        return [bool(found) for found in pipe.execute()]

    def claim_requeue(self, job_id: str, ttl_s: int) -> bool:
        """One reaper, not several, requeues a given orphan; its time in the queue starts again."""
        if not self.redis.set(keys.requeue_claim(job_id), "1", nx=True, ex=ttl_s):
            return False
        self.redis.zadd(keys.QUEUED, {job_id: time.time()}, xx=True)
        return True

    def queued_before(self, when: float, limit: int = 1000) -> list[str]:
        """Jobs whose message was sent before `when` (unix time) and that have not left `queued` since,
        oldest first (jobs that expired while queued linger until `forget_queued`)."""
        return [i.decode() for i in self.redis.zrangebyscore(keys.QUEUED, 0, when, start=0, num=limit)]

    def forget_queued(self, *job_ids: str) -> None:
        if job_ids:
            self.redis.zrem(keys.QUEUED, *job_ids)

    def statuses(self, job_ids: list[str]) -> list[JobStatus | None]:
        """`status` of several jobs in one round trip."""
        if not job_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "status")
        return [JobStatus(json.loads(raw)) if raw else None for raw in pipe.execute()]


def cache_blobs(entry: dict[str, Any]) -> list[str]:
    """The blob keys a result-cache entry needs: it answers only while all of them are there."""
    return sorted({keys.blob(o["sha256"]) for o in entry["outputs"]})


def output_entries(job_id: str, items: list[tuple[str, bytes, str]]) -> list[JobOutput]:
    """The job's entries for (name, bytes, content type) outputs, each named by its SHA-256."""
    return [JobOutput(name=name, url=f"/jobs/{job_id}/outputs/{name}", content_type=content_type, size=len(data),
                      sha256=hashlib.sha256(data).hexdigest()) for name, data, content_type in items]


def _moved(answer: Any, answer_job: bool) -> tuple[JobStatus | None, Job | None]:
    """The transition script's answer: the status found, and the record when asked for."""
    if not answer[0]:
        return None, None
    found = JobStatus(json.loads(answer[0]))
    job = _decode_record(dict(zip(answer[1][::2], answer[1][1::2]))) if answer_job else None
    return found, job


def _decode_record(raw: dict[bytes, bytes]) -> Job:
    return Job.model_validate({k.decode(): json.loads(v) for k, v in raw.items()})


def _event(event: str, data: Any) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, default=_json_default)}


def _encode(fields: dict[str, Any]) -> dict[str, str]:
    return {name: json.dumps(value, default=_json_default) for name, value in fields.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__}")

