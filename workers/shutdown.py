"""A worker told to stop (SIGTERM: Celery's warm shutdown) stops fetching, lets the tasks it holds
end and acknowledges them as they do; a message it never finished stays unacknowledged.

Inference jobs end within seconds, so they simply run to their end. A training could run for
hours: once the worker is stopping, its abort check answers yes, the trainer writes a checkpoint
and returns, and the task raises `WorkerStopping`; the job runner then hands the job back
(running -> queued, its lease let go of, its message sent again) and another worker resumes it
from that checkpoint (workers/training.py, job_runner._hand_back).
"""

import threading

_stopping = threading.Event()


class WorkerStopping(Exception):
    """The worker is stopping before this job could end: hand it back to the queue."""


def begin_stopping() -> None:
    """Celery's `worker_shutting_down` signal calls this (workers/main.py)."""
    _stopping.set()


def stopping() -> bool:
    return _stopping.is_set()
