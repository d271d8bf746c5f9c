"""POST /evaluate: how good a model version is, measured the way its task calls for.

Generators: FID, KID, precision/recall, IS (and class accuracy) with the extractor the data calls
for (the digit classifier for digit data only, Inception elsewhere). Upscalers: PSNR/SSIM against
bicubic. Translators: L1/PSNR against the targets of paired data, FID on unpaired data, each
beside the identity's."""

from fastapi import APIRouter, Response

from models.manifest import Manifest
from service.api.auth import RequireScope
from service.api.dataset_refs import dataset_store, find_dataset
from service.api.deps import IdempotencyKeyDep, PreferWaitDep, StateDep
from service.api.errors import invalid
from service.api.jobs.answer import job_answer
from service.api.jobs.idempotency import create_once
from service.api.jobs.plan import JobPlan
from service.api.jobs.submit import submit_on_model
from service.api.schemas.evaluate import EvaluateRequest
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.schemas.webhooks import WEBHOOK_FIELDS
from service.core.jobs import Job, ModelRef
from training.data.store import DatasetRecord
from training.evaluation.extractor_choice import (
    ExtractorChoice,
    ExtractorUnsuitable,
    choose_extractor,
    is_digit_data,
)

router = APIRouter(tags=["evaluation"], dependencies=[RequireScope("infer")])

# What each task is measured against: generators and upscalers on images, translators on pairs.
MEASURABLE_LAYOUTS = {"generate": ("images", "classes"), "upscale": ("images", "classes"),
                      "translate": ("paired", "unpaired")}


async def resolve_dataset(state, ref: str, task: str) -> DatasetRecord:
    record = await find_dataset(state, dataset_store(state), ref)
    layouts = MEASURABLE_LAYOUTS[task]
    if record.layout not in layouts:
        raise invalid("dataset", f"{ref} is a {record.layout!r} dataset; a {task} model is measured against "
                      f"{' or '.join(layouts)} datasets", "wrong_layout")
    return record


def resolve_extractor(state, requested: str, manifest: Manifest, record: DatasetRecord) -> ExtractorChoice | None:
    """The feature network for FID; None where the figures need none (upscalers, paired translators)."""
    if manifest.task == "upscale" or (manifest.task == "translate" and record.layout == "paired"):
        if requested not in ("auto",):
            raise invalid("extractor", f"a {manifest.task} model on {record.layout} data is measured by PSNR/SSIM/L1, "
                          "not by a feature network: leave extractor 'auto'", "extractor_unsuitable")
        return None
    signature = manifest.signature
    channels = getattr(signature, "channels", None) or signature.directions["a2b"].channels_out
    try:
        return choose_extractor(requested, channels=channels, digits=is_digit_data(record.id, record.classes),
                                inception_path=state.settings.inception_path)
    except ExtractorUnsuitable as unsuitable:
        raise invalid("extractor", str(unsuitable), "extractor_unsuitable") from None


async def evaluation_plan(state, request: EvaluateRequest, manifest: Manifest) -> JobPlan:
    """The evaluation of `manifest`'s version, whatever its task, against its dataset."""
    if manifest.task not in MEASURABLE_LAYOUTS:
        raise invalid("model", f"{request.model} is not a generate, upscale or translate model", "wrong_task")
    record = await resolve_dataset(state, request.dataset or manifest.provenance.dataset, manifest.task)
    choice = resolve_extractor(state, request.extractor, manifest, record)
    params = request.model_dump(exclude={"model", *WEBHOOK_FIELDS})
    params.update(dataset=record.id, extractor=choice.name if choice else "auto")
    return JobPlan("evaluate", ModelRef(name=manifest.name, version=manifest.version), params,
                   webhook=request.webhook_spec())


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
    """Queue an evaluation on the `training` queue. A generator's figures: FID, KID,
    precision/recall and, with the mnist extractor (digit data only), Inception Score and (for
    conditional digit models) class accuracy, each beside the extractor, sample counts and resize
    mode. An upscaler's: PSNR/SSIM (Y) of the model and of bicubic on the dataset's images shrunk
    by its scale. A translator's: L1/PSNR against B on paired data, FID against B on unpaired data,
    each beside the identity's. The figures are also recorded in the version's manifest under
    `metrics.evaluations` (GET /models/{name})."""
    submitted = await create_once(
        state, "evaluate", idempotency_key, request, response,
        lambda: submit_on_model(state, request.model, lambda manifest: evaluation_plan(state, request, manifest)),
    )
    return await job_answer(state, submitted.job, response, wait_s)
