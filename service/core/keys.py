"""Every Redis key the service and its workers use, spelled once.

The job store, idempotency, presence, leases, webhooks, API keys and rate limits all name their
keys through this module, and so do the tests that poke Redis; nothing else writes "gf:".
"""

PREFIX = "gf"

# -- jobs (service/core/job_store.py) ------------------------------------------------------------


def job(job_id: str) -> str:
    """The job record (a hash of JSON values)."""
    return f"{PREFIX}:job:{job_id}"


def job_events(job_id: str) -> str:
    """The job's event stream (status, progress, samples)."""
    return f"{PREFIX}:job:{job_id}:events"


def job_task(job_id: str) -> str:
    """How the job was queued (task name, queue, kwargs), so the reaper can queue it again."""
    return f"{PREFIX}:job:{job_id}:task"


EVENTS_CHANNEL = f"{PREFIX}:events"  # pub/sub: the id of each job whose event stream grew
JOB_PATTERN = f"{PREFIX}:job:*"
RUNNING = f"{PREFIX}:running"  # set of job ids a worker has started
RECEIVED = f"{PREFIX}:received"  # hash: job id -> the worker that fetched its message (prefetch included)


def blob(sha256: str) -> str:
    """Content-addressed bytes: outputs and input images (the result cache)."""
    return f"{PREFIX}:blob:{sha256}"


def result_cache(digest: str) -> str:
    """A deterministic request's finished answer."""
    return f"{PREFIX}:cache:{digest}"


def lease(job_id: str) -> str:
    """Held by the one worker running the job."""
    return f"{PREFIX}:lease:{job_id}"


def requeue_claim(job_id: str) -> str:
    """One reaper, not several, requeues an orphan."""
    return f"{PREFIX}:requeue:{job_id}"


# -- the API ---------------------------------------------------------------------------------------


def idempotency(endpoint: str, key: str) -> str:
    """An Idempotency-Key, per endpoint."""
    return f"{PREFIX}:idem:{endpoint}:{key}"


# -- workers ---------------------------------------------------------------------------------------

WORKER_PREFIX = f"{PREFIX}:worker:"


def worker(worker_id: str) -> str:
    """A live worker's presence record."""
    return f"{WORKER_PREFIX}{worker_id}"


def webhook_progress_throttle(job_id: str) -> str:
    return f"{PREFIX}:webhook:progress:{job_id}"


def webhook_in_flight(job_id: str) -> str:
    return f"{PREFIX}:webhook:inflight:{job_id}"
