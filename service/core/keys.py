"""Every Redis key the service and its workers use, spelled once.

The job store, idempotency, presence, leases, webhooks, API keys and rate limits all name their
keys through this module, and so do the tests that poke Redis; nothing else writes "gf:".
"""

PREFIX = "gf"

# -- jobs (service/core/job_store/) ---------------------------------------------------------------


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
MODEL_CHANGES_CHANNEL = f"{PREFIX}:model-changes"  # pub/sub: the name of each model a registry write changed
JOB_PATTERN = f"{PREFIX}:job:*"
RUNNING = f"{PREFIX}:running"  # set of job ids a worker has started
RECEIVED = f"{PREFIX}:received"  # hash: job id -> the worker that fetched its message (prefetch included)
QUEUED = f"{PREFIX}:queued"  # sorted set: job id -> when its message was (last) sent, until it leaves `queued`
PACKABLE = f"{PREFIX}:packable"  # sorted set: id of a finished job -> when it ended, until its record is packed


def blob(sha256: str) -> str:
    """Content-addressed bytes: outputs and input images (the result cache)."""
    return f"{PREFIX}:blob:{sha256}"


STORED_OUTPUTS = f"{PREFIX}:stored-outputs"  # sorted set: sha256 of an output in the artifact store -> when it expires


def output_sweeping(sha256: str) -> str:
    """Set while a sweep deletes that stored output, so a new job writing the same bytes waits for it."""
    return f"{PREFIX}:sweeping:{sha256}"


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


def jobs_of(owner: str) -> str:
    """An owner's jobs, newest last: sorted set of `<created µs>:<job id>` (service/api/job_index.py)."""
    return f"{PREFIX}:jobs:{owner}"


def idempotency(owner: str, endpoint: str, key: str) -> str:
    """An Idempotency-Key, per owner and endpoint (one owner's key never answers another's job)."""
    return f"{PREFIX}:idem:{owner}:{endpoint}:{key}"


# -- workers ---------------------------------------------------------------------------------------

WORKER_PREFIX = f"{PREFIX}:worker:"


def worker(worker_id: str) -> str:
    """A live worker's presence record."""
    return f"{WORKER_PREFIX}{worker_id}"


def worker_exit(worker_id: str) -> str:
    """How a worker process ended ("exit code 3", "signal 9 (SIGKILL)"), told by its supervisor, so
    that a job it died running can say why (workers/poison.py)."""
    return f"{PREFIX}:worker-exit:{worker_id}"


def webhook_progress_throttle(job_id: str) -> str:
    return f"{PREFIX}:webhook:progress:{job_id}"


def webhook_in_flight(job_id: str) -> str:
    return f"{PREFIX}:webhook:inflight:{job_id}"


# -- API keys, ownership and limits (service/core/api_keys.py, service/api/auth.py) ----------------


def api_key(key_sha256: str) -> str:
    """An API key's record, found by the SHA-256 of the key (the key itself is never stored)."""
    return f"{PREFIX}:apikey:{key_sha256}"


API_KEY_NAMES = f"{PREFIX}:apikeys"  # hash: key name -> SHA-256 of the key
DATASET_OWNERS = f"{PREFIX}:owners:datasets"  # hash: uploaded dataset id -> owner
MODEL_OWNERS = f"{PREFIX}:owners:models"  # hash: model name -> owner (uploaded or trained)
RATE_LIMIT_PREFIX = f"{PREFIX}:ratelimit"  # the `limits` library's namespace for per-key windows


def trainings_of(key_name: str) -> str:
    """Set of the training jobs a key has started and that may still be running."""
    return f"{PREFIX}:trainings:{key_name}"
