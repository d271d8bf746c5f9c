"""Hold a job's lease for as long as its task runs, renewed from one side thread per process.

Every job a process runs registers its lease with the process's `LeaseKeeper`; one daemon thread
renews each lease every third of its TTL (all that are due in one Redis pipeline) until the task
lets go. Starting a thread per job cost more CPU than the job's own Redis writes (bench/REPORT.md).
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from service.core.job_store import JobStore
from workers.outage import best_effort, ride_out

log = logging.getLogger(__name__)


class LeaseTaken(Exception):
    """Another live worker holds this job."""


def lease_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass
class _Held:
    store: JobStore
    job_id: str
    owner: str
    ttl_s: int
    due: float  # monotonic time of the next renewal


class LeaseKeeper:
    """Renews every lease this process holds, from one daemon thread started on first use."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], _Held] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._asleep_until: float | None = 0.0  # None: asleep until woken
        # Idle, the thread still wakes every third of the last TTL it saw, so that a new lease,
        # due a third of its TTL from now, never needs to wake it (a wake-up per job costs CPU).
        self._idle_beat_s: float | None = None

    def add(self, store: JobStore, job_id: str, owner: str, ttl_s: int) -> None:
        held = _Held(store, job_id, owner, ttl_s, time.monotonic() + ttl_s / 3)
        with self._wake:
            self._held[(job_id, owner)] = held
            self._idle_beat_s = ttl_s / 3
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()  # a forked child needs a thread of its own
                self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)
                self._thread.start()
            elif self._asleep_until is None or held.due < self._asleep_until:
                self._wake.notify()  # asleep with nothing to renew, or until a later beat than this one's

    def remove(self, job_id: str, owner: str) -> None:
        with self._wake:
            self._held.pop((job_id, owner), None)

    def holds(self, job_id: str) -> bool:
        with self._wake:
            return any(key[0] == job_id for key in self._held)

    def _loop(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [h for h in self._held.values() if h.due <= now]
                if not due:
                    beat = None if self._idle_beat_s is None else now + self._idle_beat_s
                    self._asleep_until = min((h.due for h in self._held.values()), default=beat)
                    self._wake.wait(None if self._asleep_until is None else max(0.0, self._asleep_until - now))
                    self._asleep_until = 0.0  # awake: no need to be woken
                    continue
                for held in due:  # the next beat is a third of a TTL away, whatever this one answers
                    held.due = now + held.ttl_s / 3
            self._renew(due)

    def _renew(self, due: list[_Held]) -> None:
        by_store: dict[int, list[_Held]] = {}
        for held in due:
            by_store.setdefault(id(held.store), []).append(held)
        for group in by_store.values():
            try:
                answers = group[0].store.renew_leases([(h.job_id, h.owner, h.ttl_s) for h in group])
            except Exception as error:  # Redis away: try again on the next beat; a lapsed lease is taken back
                log.warning("renewing the leases on jobs %s: %s", ", ".join(h.job_id for h in group), error)
                continue
            for held, renewed in zip(group, answers):
                with self._wake:
                    if renewed or self._held.get((held.job_id, held.owner)) is not held:
                        continue  # renewed, or let go of while this beat was on its way
                    del self._held[(held.job_id, held.owner)]
                log.warning("lost the lease on job %s", held.job_id)


_keeper = LeaseKeeper()


@contextmanager
def hold_lease(store: JobStore, job_id: str, ttl_s: int, *, outage_bound_s: float = 120.0) -> Iterator[str]:
    owner = lease_owner()
    if not ride_out(lambda: store.acquire_lease(job_id, owner, ttl_s), outage_bound_s, "taking the lease"):
        raise LeaseTaken(job_id)
    _keeper.add(store, job_id, owner, ttl_s)
    try:
        yield owner
    finally:
        _keeper.remove(job_id, owner)
        best_effort(lambda: store.release_lease(job_id, owner), "releasing the lease")  # else it lapses


def stop_renewing(job_id: str, owner: str) -> None:
    """The job is ending: its lease is let go of with its end (`JobStore.finish(release=owner)`)."""
    _keeper.remove(job_id, owner)


@contextmanager
def keep_leases(store: JobStore, job_ids: list[str], owner: str, ttl_s: int,
                released: set[str] | None = None) -> Iterator[None]:
    """Renew leases already taken (`JobStore.take_many`) while the block runs, then let go of
    those still held in one round trip (`released`: the jobs whose end let go of theirs already)."""
    for job_id in job_ids:
        _keeper.add(store, job_id, owner, ttl_s)
    try:
        yield
    finally:
        for job_id in job_ids:
            _keeper.remove(job_id, owner)
        held = [job_id for job_id in job_ids if released is None or job_id not in released]
        if held:
            best_effort(lambda: store.release_leases(held, owner), "releasing the leases")  # else they lapse
