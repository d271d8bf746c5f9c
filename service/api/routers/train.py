"""POST /train and GET /train/architectures."""

import secrets

from fastapi import APIRouter, Response
from pydantic import ValidationError

from models.shapes import start_size
from service.api.auth import RequireScope
from service.api.caller import current_caller
from service.api.dataset_refs import dataset_store, find_dataset
from service.api.deps import IdempotencyKeyDep, PreferWaitDep, StateDep
from service.api.errors import invalid, pydantic_field_errors, validation_problem
from service.api.jobs.answer import job_answer
from service.api.jobs.idempotency import create_once
from service.api.jobs.plan import JobPlan, Submitted
from service.api.jobs.submit import submit
from service.api.ownership import claim_model_name, visible_job
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.schemas.train import ArchitectureInfo, ArchitectureList, TrainRequest
from service.api.schemas.webhooks import WEBHOOK_FIELDS
from service.api.training_quota import start_training
from service.core.jobs import Job, JobStatus
from training.data.store import DatasetRecord
from training.families import FAMILIES, Family
from training.families.shared import RESUMABLE_HYPERPARAMETERS

router = APIRouter(tags=["training"], dependencies=[RequireScope("train")])


def resolve_family(name: str) -> Family:
    if name not in FAMILIES:
        raise invalid("architecture", f"unknown architecture {name!r}; known: {', '.join(FAMILIES)}", "unknown")
    return FAMILIES[name]


def validate_hyperparameters(family: Family, given: dict) -> dict:
    try:
        return family.hyperparameters.model_validate(given).model_dump()
    except ValidationError as error:
        raise validation_problem(pydantic_field_errors(error, ("hyperparameters",))) from None


async def resolve_dataset(state, family: Family, ref: str) -> DatasetRecord:
    record = await find_dataset(state, dataset_store(state), ref)
    if record.layout not in family.layouts:
        raise invalid(
            "dataset", f"{ref} is a {record.layout!r} dataset; {family.name} trains on {', '.join(family.layouts)}",
            "wrong_layout",
        )
    if family.conditional and len(record.classes) < 2:
        raise invalid("dataset", f"{family.name} needs at least 2 classes; {ref} has {len(record.classes)}", "too_few_classes")
    return record


def resolve_image_size(requested: int | None, record: DatasetRecord) -> int:
    native = record.sizes[0]["width"] if record.sizes and record.sizes[0]["width"] == record.sizes[0]["height"] else None
    size = requested or native or 32
    try:
        start_size(size)
    except ValueError as error:
        if requested is None:  # the dataset's own size does not fit: fall back to a size that does
            return 32
        raise invalid("image_size", f"{error} (e.g. 8, 28, 32, 64)", "unsupported_size") from None
    return size


RESUMABLE = (JobStatus.canceled, JobStatus.failed)


async def resumed_params(state, request: TrainRequest) -> dict:
    """The params of a run that continues `resume_from`'s newest checkpoint: that job's settings,
    with this request's steps, promotion and schedule of checkpoints and samples."""
    old = visible_job(await state.jobs_async.get(request.resume_from), request.resume_from,
                      current_caller())  # another owner's: 404
    if old.kind != "train" or old.status not in RESUMABLE:
        raise invalid("resume_from", f"job {old.id} is a {old.status.value} {old.kind} job; only canceled or failed "
                      "training jobs can be resumed", "not_resumable")
    for field in ("architecture", "dataset", "model_name"):
        if getattr(request, field) != old.params[field]:
            raise invalid(field, f"job {old.id} trained {field} {old.params[field]!r}, not {getattr(request, field)!r}",
                          "differs_from_resumed_job")
    params = dict(old.params)
    params.update(resume_from=old.id, register_only=request.register_only, promote=request.promote,
                  checkpoint_every=request.checkpoint_every, sample_every=request.sample_every)
    if request.hyperparameters:
        params["hyperparameters"] = resumed_hyperparameters(old.params, request.hyperparameters)
    if request.steps is not None or request.epochs is not None:
        params.update(steps=request.steps, epochs=request.epochs)
    return params


def resumed_hyperparameters(old_params: dict, changes: dict) -> dict:
    """The resumed job's hyperparameters with the changes a resume allows (RESUMABLE_HYPERPARAMETERS);
    repeating the old values of the others is no change."""
    old = old_params["hyperparameters"]
    fixed = sorted(k for k, v in changes.items() if k not in RESUMABLE_HYPERPARAMETERS and old.get(k) != v)
    if fixed:
        raise invalid("hyperparameters", f"a resumed run keeps its hyperparameters; it may change only "
                      f"{', '.join(RESUMABLE_HYPERPARAMETERS)}, not {', '.join(fixed)}", "differs_from_resumed_job")
    family = resolve_family(old_params["architecture"])
    return validate_hyperparameters(family, {**old, **changes})


async def submit_train(state, request: TrainRequest) -> Submitted:
    if request.register_only and not request.resume_from:
        raise invalid("register_only", "register_only needs resume_from: the job whose checkpoint to register",
                      "needs_resume_from")
    if request.resume_from:
        params = await resumed_params(state, request)
    else:
        family = resolve_family(request.architecture)
        hyperparameters = validate_hyperparameters(family, request.hyperparameters)
        record = await resolve_dataset(state, family, request.dataset)
        params = request.model_dump(exclude=set(WEBHOOK_FIELDS))
        params.update(
            hyperparameters=hyperparameters,
            image_size=resolve_image_size(request.image_size, record),
            seed=request.seed if request.seed is not None else secrets.randbelow(2**32),
        )
        if request.steps is None and request.epochs is None:
            params["steps"] = 1000
    caller = current_caller()
    await claim_model_name(state, request.model_name, caller)  # another owner's name: 409
    plan = JobPlan("train", None, params, webhook=request.webhook_spec())
    return await start_training(state, caller, lambda: submit(state, plan))


@router.post(
    "/train",
    response_model=Job,
    status_code=202,
    responses={200: {"model": Job, "description": "Finished within `Prefer: wait`"}, **PROBLEM_RESPONSES},
    summary="Train a model",
)
async def train(
    request: TrainRequest, state: StateDep, response: Response, wait_s: PreferWaitDep, idempotency_key: IdempotencyKeyDep
) -> Job:
    """Queue a training job on the `training` queue. Follow it with GET /jobs/{id}/events; when it
    succeeds its generator is registered as the next version of `model_name` and served at once."""
    submitted = await create_once(state, "train", idempotency_key, request, response,
                                  lambda: submit_train(state, request))
    return await job_answer(state, submitted.job, response, wait_s)


@router.get("/train/architectures", response_model=ArchitectureList, summary="What POST /train can train")
def architectures() -> ArchitectureList:
    return ArchitectureList(
        architectures=[
            ArchitectureInfo(
                name=family.name, summary=family.summary, task=family.task, layouts=list(family.layouts),
                hyperparameters=family.hyperparameters.model_json_schema(),
            )
            for family in FAMILIES.values()
        ]
    )
