"""Hold a job's lease for as long as its task runs, renewing it from a side thread."""

import logging
import os
import socket
import threading
from contextlib import contextmanager
from typing import Iterator

from service.job_store import JobStore

log = logging.getLogger(__name__)


class LeaseTaken(Exception):
    """Another live worker holds this job."""


def lease_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@contextmanager
def hold_lease(store: JobStore, job_id: str, ttl_s: int) -> Iterator[str]:
    owner = lease_owner()
    if not store.acquire_lease(job_id, owner, ttl_s):
        raise LeaseTaken(job_id)
    done = threading.Event()

    def renew() -> None:
        while not done.wait(ttl_s / 3):
            try:
                if not store.renew_lease(job_id, owner, ttl_s):
                    log.warning("lost the lease on job %s", job_id)
                    return
            except Exception:  # Redis hiccup: try again on the next beat
                log.exception("renewing the lease on job %s", job_id)

    threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True).start()
    try:
        yield owner
    finally:
        done.set()
        store.release_lease(job_id, owner)
