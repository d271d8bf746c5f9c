"""Requeue jobs whose worker died, in seconds rather than after the broker's visibility timeout.

A running job's worker renews its lease every third of `lease_ttl_s`. A job still marked running
whose lease has expired lost its worker (SIGKILL, OOM, a lost machine); any live worker's reaper
sends its task again, and the worker that takes it resumes from the newest checkpoint. The broker
may still redeliver the original message after its visibility timeout: by then the job is
finished, and the job runner leaves it alone.
"""

import logging
import threading

from celery import Celery

from service.core.job_store import JobStore
from service.core.jobs import JobStatus

log = logging.getLogger(__name__)


def reap_once(store: JobStore, app: Celery, lease_ttl_s: int) -> list[str]:
    requeued = []
    for job_id in store.running_without_lease():
        job = store.get(job_id)
        if job is None or job.status != JobStatus.running:
            store.forget_running(job_id)
            continue
        task = store.get_task(job_id)
        if task is None or not store.claim_requeue(job_id, lease_ttl_s):
            continue
        log.warning("job %s lost its worker; queueing it again", job_id)
        app.send_task(task["name"], args=[job_id], kwargs=task["kwargs"], queue=task["queue"])
        requeued.append(job_id)
    return requeued


class Reaper:
    def __init__(self, store: JobStore, app: Celery, lease_ttl_s: int):
        self.store, self.app, self.lease_ttl_s = store, app, lease_ttl_s
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="reaper", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(max(1.0, self.lease_ttl_s / 3)):
            try:
                reap_once(self.store, self.app, self.lease_ttl_s)
            except Exception:  # Redis away for a moment: look again next round
                log.exception("reaper round failed")
