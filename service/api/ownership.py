"""Whose is what: jobs, uploaded datasets and models belong to the owner of the key that made
them. Another owner gets 404, as if the thing did not exist (a 403 would say that it does);
an admin key sees everything. Built-in datasets and bundled models belong to nobody: every key
may use them, none but an admin may change them.

Jobs carry their owner in the record; datasets and models, which live on disk, are owned
through Redis hashes (`keys.DATASET_OWNERS`, `keys.MODEL_OWNERS`), read on the event loop's
client. An upload whose owner is not recorded is visible to admins only: missing ownership
fails closed.
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


def visible_job(job: Job | None, job_id: str, caller: ApiKey) -> Job:
    """`job` as `caller` may see it; 404 when there is none or `caller` may not see it, the same
    answer for both."""
    if job is None or not owns(caller, job.owner):
        raise unknown_job(job_id)
    return job_view(job, caller)


def find_job(state: ApiState, job_id: str, caller: ApiKey) -> Job:
    """The job, if `caller` may see it (for the routes run in threads: GET /jobs/{id}, cancel)."""
    return visible_job(state.jobs.get(job_id), job_id, caller)


async def check_job_owner(state: ApiState, job_id: str, caller: ApiKey) -> None:
    """404 unless the job exists and `caller` may see it (one round trip, for streams)."""
    owner, status = await state.jobs_async.owner_and_status(job_id)
    if status is None or not owns(caller, owner):
        raise unknown_job(job_id)


# -- owners of datasets and models: hashes of Redis, read on the event loop ----------------------------


def decoded_owner(raw: bytes | None) -> str | None:
    return raw.decode() if raw else None


async def _owners(state: ApiState, table: str, names: list[str]) -> list[str | None]:
    if not names:
        return []
    return [decoded_owner(raw) for raw in await state.redis_async.hmget(table, names)]


# -- datasets ---------------------------------------------------------------------------------------


async def dataset_owner(state: ApiState, dataset_id: str) -> str | None:
    return decoded_owner(await state.redis_async.hget(keys.DATASET_OWNERS, dataset_id))


async def set_dataset_owner(state: ApiState, dataset_id: str, caller: ApiKey) -> None:
    await state.redis_async.hset(keys.DATASET_OWNERS, dataset_id, caller.owner)


async def forget_dataset_owner(state: ApiState, dataset_id: str) -> None:
    await state.redis_async.hdel(keys.DATASET_OWNERS, dataset_id)


async def dataset_visible(state: ApiState, record, caller: ApiKey) -> bool:
    return record.builtin or owns(caller, await dataset_owner(state, record.id))


async def visible_datasets(state: ApiState, records: list, caller: ApiKey) -> list:
    """The records `caller` may see, their owners read in one round trip."""
    owners = await _owners(state, keys.DATASET_OWNERS, [r.id for r in records if not r.builtin])
    uploads = iter(owners)
    return [r for r in records if r.builtin or owns(caller, next(uploads))]


# -- models -------------------------------------------------------------------------------------------


def stage_model_owner(pipe, name: str) -> None:
    """The model's owner as one read on the caller's pipeline (`decoded_owner` reads its answer):
    a job's first round trip carries it."""
    pipe.hget(keys.MODEL_OWNERS, name)


async def model_owner(state: ApiState, name: str) -> str | None:
    return decoded_owner(await state.redis_async.hget(keys.MODEL_OWNERS, name))


async def model_visible(state: ApiState, name: str, caller: ApiKey) -> bool:
    return owner_visible(await model_owner(state, name), caller)


async def visible_models(state: ApiState, names: list[str], caller: ApiKey) -> list[str]:
    """The model names `caller` may see, their owners read in one round trip."""
    return [name for name, owner in zip(names, await _owners(state, keys.MODEL_OWNERS, names))
            if owner_visible(owner, caller)]


def owner_visible(owner: str | None, caller: ApiKey) -> bool:
    """Bundled (unowned) models are everyone's; an owned one only its owner's and admins'."""
    return owner is None or owns(caller, owner)


async def claim_model_name(state: ApiState, name: str, caller: ApiKey) -> None:
    """Before a job or an upload publishes versions under `name`: the name becomes the caller's,
    or already is. A bundled model's name is an admin's to publish under; another owner's name
    is taken (409, without saying whose)."""
    while True:
        owner = await model_owner(state, name)
        if owner is not None:
            if owns(caller, owner):
                return
            raise _name_taken(name)
        if state.models.versions(name):  # bundled, or published before names had owners
            if caller.is_admin:
                return
            raise _name_taken(name)
        if await state.redis_async.hsetnx(keys.MODEL_OWNERS, name, caller.owner):
            return


def _name_taken(name: str) -> Problem:
    message = f"the model name {name!r} is taken; choose another"
    return Problem(409, "model-name-taken", "Model name taken", message,
                   errors=[{"field": "model_name", "message": message, "type": "name_taken"}])
