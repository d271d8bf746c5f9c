"""POST /evaluate: FID, KID, precision/recall, IS (and class accuracy) of a model version."""

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from models.manifest import Manifest
from service.api.auth import RequireScope
from service.api.dataset_refs import dataset_store, find_dataset
from service.api.deps import IdempotencyKeyDep, PreferWaitDep, StateDep
from service.api.errors import invalid
from service.api.idempotency import create_once
from service.api.job_submission import enqueue, job_answer
from service.api.model_refs import resolve_model
from service.api.schemas.evaluate import EvaluateRequest
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.schemas.webhooks import WEBHOOK_FIELDS
from service.core.jobs import Job, ModelRef
from training.dataset_store import DatasetRecord
from training.extractor_choice import (
    ExtractorChoice,
    ExtractorUnsuitable,
    choose_extractor,
)

router = APIRouter(tags=["evaluation"], dependencies=[RequireScope("infer")])

MEASURABLE_LAYOUTS = ("images", "classes")


def resolve_dataset(state, ref: str) -> DatasetRecord:
    record = find_dataset(state, dataset_store(state), ref)
    if record.layout not in MEASURABLE_LAYOUTS:
        raise invalid("dataset", f"{ref} is a {record.layout!r} dataset; evaluation compares with "
                      f"{' or '.join(MEASURABLE_LAYOUTS)} datasets", "wrong_layout")
    return record


def resolve_extractor(state, requested: str, manifest: Manifest) -> ExtractorChoice:
    signature = manifest.signature
    try:
        return choose_extractor(requested, channels=signature.channels, image_size=signature.image_size,
                                inception_path=state.settings.inception_path)
    except ExtractorUnsuitable as unsuitable:
        raise invalid("extractor", str(unsuitable), "extractor_unsuitable") from None


def submit_evaluate(state, request: EvaluateRequest) -> Job:
    manifest = resolve_model(state, request.model, "generate")
    record = resolve_dataset(state, request.dataset or manifest.provenance.dataset)
    choice = resolve_extractor(state, request.extractor, manifest)
    params = request.model_dump(exclude={"model", *WEBHOOK_FIELDS})
    params.update(dataset=record.id, extractor=choice.name)
    return enqueue(
        state, kind="evaluate", model=ModelRef(name=manifest.name, version=manifest.version), params=params,
        webhook=request.webhook_spec(),
    )


@router.post(
    "/evaluate",
    response_model=Job,
    status_code=202,
    responses={200: {"model": Job, "description": "Finished within `Prefer: wait`"}, **PROBLEM_RESPONSES},
    summary="Measure a model version against real data",
)
async def evaluate(
    request: EvaluateRequest, state: StateDep, response: Response, wait_s: PreferWaitDep,
    idempotency_key: IdempotencyKeyDep,
) -> Job:
    """Queue an evaluation on the `training` queue. The finished job's metrics hold FID, KID,
    precision/recall and, with the mnist extractor, Inception Score and (for conditional digit
    models) class accuracy, each beside the extractor, sample counts and resize mode. The figures
    are also recorded in the version's manifest under `metrics.evaluations` (GET /models/{name})."""
    job = await run_in_threadpool(create_once, state, "evaluate", idempotency_key, request, response,
                                  lambda: submit_evaluate(state, request))
    return await job_answer(state, job, response, wait_s)
