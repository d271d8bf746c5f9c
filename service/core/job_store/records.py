"""Job records: a Redis hash per job whose fields are JSON values, so one field changes without
rewriting the rest; a status change is a compare-and-set in a Lua script (scripts.py)."""

import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from service.core import keys
from service.core.job_store.base import AsyncPart, SyncPart
from service.core.job_store.batch import SyncAtomicBatch
from service.core.job_store.codec import (
    decode_field,
    decode_record,
    decode_status,
    stage_create,
)
from service.core.job_store.scripts import move_arguments
from service.core.jobs import Job, JobStatus


class JobRecords(SyncPart):
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
        """Queue `create`'s writes on a pipeline of the caller's (codec.stage_create)."""
        stage_create(pipe, job, self.job_ttl_s, task)

    def get(self, job_id: str) -> Job | None:
        return decode_record(self.redis.hgetall(keys.job(job_id)))

    def get_many(self, job_ids: list[str]) -> list[Job | None]:
        """Several jobs in one round trip, None where one expired."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(keys.job(job_id))
        return [decode_record(raw) for raw in pipe.execute()]

    def owner(self, job_id: str) -> str | None:
        """Who the job belongs to (None: no such job, or one from before keys had owners)."""
        return decode_field(self.redis.hget(keys.job(job_id), "owner"))

    def status(self, job_id: str) -> JobStatus | None:
        return decode_status(self.redis.hget(keys.job(job_id), "status"))

    def statuses(self, job_ids: list[str]) -> list[JobStatus | None]:
        """`status` of several jobs in one round trip."""
        if not job_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "status")
        return [decode_status(raw) for raw in pipe.execute()]

    # -- status changes ------------------------------------------------------------------------

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
               release: str | None = None, **fields: Any) -> JobStatus | None:
        """running -> `to`, and off the running set whether or not the job was still running.
        `before` puts writes on the same round trip, ahead of the status change (the job's outputs);
        `release` (the lease's owner) lets go of the job's lease in the same call, and then `before`'s
        writes go in that call too (one command: scripts.FINISH)."""
        if release is not None:
            writes = None
            if before is not None:
                batch = SyncAtomicBatch(self.redis)
                before(batch)
                writes = batch.argv()
            found, _ = _moved(self._move_call(job_id, {JobStatus.running}, to, fields, running="remove",
                                              answer_job=False, release=release, writes=writes), False)
            return found
        if before is None:
            found, _ = _moved(self._move_call(job_id, {JobStatus.running}, to, fields, running="remove",
                                              answer_job=False, release=release), False)
            return found
        def build(pipe: redis.client.Pipeline) -> None:
            before(pipe)
            self._move_call(job_id, {JobStatus.running}, to, fields, running="remove", answer_job=False, pipe=pipe,
                            release=release)
        found, _ = _moved(self._scripted(build)[-1], False)
        return found

    def hand_back(self, job_id: str, owner: str) -> bool:
        """A worker that is stopping gives a running job back: running -> queued, off the running set
        and its lease (held by `owner`) let go of in one call, then among the queued jobs again (the
        reaper's index: should its new message be lost, the job is still found). True if it was running."""
        found, _ = _moved(self._move_call(job_id, {JobStatus.running}, JobStatus.queued, {}, running="remove",
                                          answer_job=False, release=owner), False)
        if found != JobStatus.running:
            return False
        self.redis.zadd(keys.QUEUED, {job_id: time.time()})
        return True

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
                   lease: tuple[str, int] | None = None, release: str | None = None,
                   writes: list[Any] | None = None) -> Any:
        """The transition script, called now or, with `pipe`, queued on it (see `_scripted`);
        with `lease` (owner, TTL), the script that takes the job's lease first; with `release`
        (owner), the one that lets go of it first."""
        script_keys, args = move_arguments(job_id, allowed, to, fields, running=running, answer_job=answer_job,
                                           lease=lease, release=release, writes=writes)
        script = self._take if lease is not None else self._finish if release is not None else self._transition
        if pipe is not None:
            return pipe.evalsha(script.sha, len(script_keys), *script_keys, *args)
        return script(keys=script_keys, args=args)


class AsyncJobRecords(AsyncPart):
    """The records as the API's event loop reads and creates them."""

    def stage_create(self, pipe: Any, job: Job, task: dict[str, Any] | None = None) -> None:
        stage_create(pipe, job, self.job_ttl_s, task)

    async def get(self, job_id: str) -> Job | None:
        return decode_record(await self.redis.hgetall(keys.job(job_id)))

    async def status(self, job_id: str) -> JobStatus | None:
        return decode_status(await self.redis.hget(keys.job(job_id), "status"))

    async def owner_and_status(self, job_id: str) -> tuple[str | None, JobStatus | None]:
        """Who the job belongs to and its status, in one round trip (both None: no such job)."""
        owner, status = await self.redis.hmget(keys.job(job_id), ["owner", "status"])
        return decode_field(owner), decode_status(status)


def _moved(answer: Any, answer_job: bool) -> tuple[JobStatus | None, Job | None]:
    """The transition script's answer: the status found, and the record when asked for."""
    if not answer[0]:
        return None, None
    found = JobStatus(decode_field(answer[0]))
    job = decode_record(dict(zip(answer[1][::2], answer[1][1::2]))) if answer_job else None
    return found, job
