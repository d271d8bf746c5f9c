"""Leases (one job never runs twice at once) and the bookkeeping recovery reads: how each job was
queued, which jobs are queued, fetched or running. The workers' and the reaper's side only."""

import json
import time
from typing import Any

import redis

from service.core import keys
from service.core.job_store.base import SyncPart


class JobLeases(SyncPart):
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

    def running_without_lease(self) -> list[str]:
        """Jobs marked running whose worker stopped renewing the lease: it died."""
        ids = [i.decode() for i in self.redis.smembers(keys.RUNNING)]
        return [job_id for job_id, leased in zip(ids, self.leased(ids)) if not leased]

    def leased(self, job_ids: list[str]) -> list[bool]:
        if not job_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.exists(keys.lease(job_id))
        return [bool(found) for found in pipe.execute()]


class QueueBook(SyncPart):
    """Which task a job is, and which jobs are queued, fetched or running: what the reaper reads."""

    def get_task(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(keys.job_task(job_id))
        return json.loads(raw) if raw else None

    def forget_running(self, job_id: str) -> None:
        self.redis.srem(keys.RUNNING, job_id)

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

    def claim_requeue(self, job_id: str, ttl_s: int) -> bool:
        """One reaper, not several, requeues a given orphan; its time in the queue starts again."""
        if not self.redis.set(keys.requeue_claim(job_id), "1", nx=True, ex=ttl_s):
            return False
        self.redis.zadd(keys.QUEUED, {job_id: time.time()}, xx=True)
        return True

    def count_lost_run(self, job_id: str) -> int:
        """The job's current run was lost with its worker: count it (once, however many reapers
        see it) and answer how many of its runs were lost so far."""
        return int(self._count_lost_run(keys=[keys.job(job_id)]))

    def runner(self, job_id: str) -> str | None:
        """The worker process (`host:pid`, its presence id) that last started the job."""
        raw = self.redis.hget(keys.job(job_id), "runner")
        return json.loads(raw) if raw else None

    def worker_exit(self, worker_id: str) -> str | None:
        """How a dead worker process ended, when its supervisor said (`exit code 3`, `signal 9 (SIGKILL)`)."""
        raw = self.redis.get(keys.worker_exit(worker_id))
        return raw.decode() if raw else None

    def queued_before(self, when: float, limit: int = 1000) -> list[str]:
        """Jobs whose message was sent before `when` (unix time) and that have not left `queued` since,
        oldest first (jobs that expired while queued linger until `forget_queued`)."""
        return [i.decode() for i in self.redis.zrangebyscore(keys.QUEUED, 0, when, start=0, num=limit)]

    def forget_queued(self, *job_ids: str) -> None:
        if job_ids:
            self.redis.zrem(keys.QUEUED, *job_ids)
