"""Which worker fetched which job's message, written off the path of the job itself.

Celery sends `task_received` on the worker's consumer thread, before it hands the task to the
pool: a Redis write there would hold every job back by a round trip (and the consumer with it).
So the signal only queues the note here, and one thread writes whatever is pending in one HSET,
a moment later (`DELAY_S`: the notes of the messages fetched meanwhile go together). A job that
a task takes before its note is written needs none (`taken`): the take marks it running under a
lease, which the reaper watches instead. A worker that dies before its note lands leaves that job to the reaper's path
for unacked messages nobody noted (workers/reaper.py), a few seconds slower; nothing is lost.
"""

import threading

from service.core.job_store import JobStore
from workers.outage import best_effort

DELAY_S = 0.005


class ReceiptWriter:
    def __init__(self, store: JobStore, worker_id: str):
        self.store = store
        self.worker_id = worker_id
        self._pending: list[str] = []
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="receipts", daemon=True)
        self._thread.start()

    def taken(self, job_ids: list[str]) -> None:
        """A task is taking these jobs now: a note still pending for them is not written."""
        with self._wake:
            if self._pending:
                gone = set(job_ids)
                self._pending = [job_id for job_id in self._pending if job_id not in gone]

    def note(self, job_ids: list[str]) -> None:
        with self._wake:
            self._pending.extend(job_ids)
            self._wake.notify()

    def stop(self) -> None:
        """Write what is pending, then end the thread."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopped:
                    self._wake.wait()
                if not self._stopped:  # a moment for the task to take the job, and for company
                    self._wake.wait(DELAY_S)
                job_ids, self._pending = self._pending, []
                stopped = self._stopped
            if job_ids:
                best_effort(lambda: self.store.note_received_all(job_ids, self.worker_id), "noting fetched jobs")
            if stopped:
                return
