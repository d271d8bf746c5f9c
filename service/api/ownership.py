"""Whose is what: jobs, uploaded datasets and models belong to the owner of the key that made
them. Another owner gets 404, as if the thing did not exist (a 403 would say that it does);
an admin key sees everything. Built-in datasets and bundled models belong to nobody: every key
may use them, none but an admin may change them.

Jobs carry their owner in the record; datasets and models, which live on disk, are owned
through Redis hashes (`keys.DATASET_OWNERS`, `keys.MODEL_OWNERS`). An upload whose owner is not
recorded is visible to admins only: missing ownership fails closed.
"""

from urllib.parse import urlsplit

from service.api.errors import Problem, unknown_job
from service.api.state import ApiState
from service.core import keys
from service.core.api_keys import ApiKey
from service.core.jobs import Job


def owns(caller: ApiKey, owner: str | None) -> bool:
    return caller.is_admin or (owner is not None and owner == caller.owner)


# -- jobs ----------------------------------------------------------------------------------------------


def job_view(job: Job, caller: ApiKey) -> Job:
    """The job as `caller` may see it: a webhook URL (it may hold a token) only for its owner."""
    if job.webhook is None or job.owner == caller.owner:
        return job
    parts = urlsplit(job.webhook.url)
    hidden = job.webhook.model_copy(update={"url": f"{parts.scheme}://{parts.hostname or ''}/…"})
    return job.model_copy(update={"webhook": hidden})


def find_job(state: ApiState, job_id: str, caller: ApiKey) -> Job:
    """The job, if `caller` may see it; 404 otherwise, the same as for a job that never was."""
    job = state.jobs.get(job_id)
    if job is None or not owns(caller, job.owner):
        raise unknown_job(job_id)
    return job_view(job, caller)


def check_job_owner(state: ApiState, job_id: str, caller: ApiKey) -> None:
    """404 unless the job exists and `caller` may see it (one Redis read, for streams)."""
    owner = state.jobs.owner(job_id)
    if (owner is None and state.jobs.status(job_id) is None) or not owns(caller, owner):
        raise unknown_job(job_id)


# -- datasets ---------------------------------------------------------------------------------------


def dataset_owner(state: ApiState, dataset_id: str) -> str | None:
    raw = state.redis.hget(keys.DATASET_OWNERS, dataset_id)
    return raw.decode() if raw else None


def set_dataset_owner(state: ApiState, dataset_id: str, caller: ApiKey) -> None:
    state.redis.hset(keys.DATASET_OWNERS, dataset_id, caller.owner)


def forget_dataset_owner(state: ApiState, dataset_id: str) -> None:
    state.redis.hdel(keys.DATASET_OWNERS, dataset_id)


def dataset_visible(state: ApiState, record, caller: ApiKey) -> bool:
    return record.builtin or owns(caller, dataset_owner(state, record.id))


# -- models -------------------------------------------------------------------------------------------


def model_owner(state: ApiState, name: str) -> str | None:
    raw = state.redis.hget(keys.MODEL_OWNERS, name)
    return raw.decode() if raw else None


async def model_owner_now(state: ApiState, name: str) -> str | None:
    """`model_owner` through the event loop's own Redis client (no thread)."""
    raw = await state.hub.redis.hget(keys.MODEL_OWNERS, name)
    return raw.decode() if raw else None


def model_visible(state: ApiState, name: str, caller: ApiKey) -> bool:
    return owner_visible(model_owner(state, name), caller)


def owner_visible(owner: str | None, caller: ApiKey) -> bool:
    """Bundled (unowned) models are everyone's; an owned one only its owner's and admins'."""
    return owner is None or owns(caller, owner)


def claim_model_name(state: ApiState, name: str, caller: ApiKey) -> None:
    """Before a job or an upload publishes versions under `name`: the name becomes the caller's,
    or already is. A bundled model's name is an admin's to publish under; another owner's name
    is taken (409, without saying whose)."""
    while True:
        owner = model_owner(state, name)
        if owner is not None:
            if owns(caller, owner):
                return
            raise _name_taken(name)
        if state.models.versions(name):  # bundled, or published before names had owners
            if caller.is_admin:
                return
            raise _name_taken(name)
        if state.redis.hsetnx(keys.MODEL_OWNERS, name, caller.owner):
            return


def _name_taken(name: str) -> Problem:
    message = f"the model name {name!r} is taken; choose another"
    return Problem(409, "model-name-taken", "Model name taken", message,
                   errors=[{"field": "model_name", "message": message, "type": "name_taken"}])
