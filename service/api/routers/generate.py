"""POST /generate."""

import secrets

from fastapi import APIRouter, Response

from models.manifest import Manifest
from service.api.auth import RequireScope
from service.api.deps import IdempotencyKeyDep, PreferWaitDep, StateDep
from service.api.errors import validation_problem
from service.api.generate_params import check_model_params, labels_name_codes
from service.api.jobs.answer import AcceptImageDep, answer, negotiate
from service.api.jobs.cache import request_digest
from service.api.jobs.idempotency import create_once
from service.api.jobs.plan import JobPlan, Submitted
from service.api.jobs.submit import submit_on_model
from service.api.schemas.generate import GenerateRequest
from service.api.schemas.one_call import ONE_CALL_RESPONSES, JobAnswer
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.schemas.webhooks import WEBHOOK_FIELDS
from service.core.jobs import Job, ModelRef

router = APIRouter(tags=["inference"], dependencies=[RequireScope("infer")])


def check_labels(request: GenerateRequest, manifest: Manifest) -> None:
    classes = manifest.signature.num_classes
    if request.labels is None or (classes == 0 and labels_name_codes(manifest)):
        return  # an InfoGAN's labels go through its matched category: generate_params checks them
    errors = []
    if classes == 0:
        errors.append({"field": "labels", "message": f"{manifest.ref} is unconditional; omit labels", "type": "not_conditional"})
    elif len(request.labels) not in (1, request.n):
        errors.append({
            "field": "labels", "type": "wrong_length",
            "message": f"give one label for all images or exactly n={request.n}, not {len(request.labels)}",
        })
    else:
        names = manifest.signature.class_names
        for i, label in enumerate(request.labels):
            if not 0 <= label < classes:
                allowed = f"0..{classes - 1}" + (f" ({', '.join(names)})" if names else "")
                errors.append({"field": f"labels.{i}", "type": "out_of_range", "message": f"label {label} is outside {allowed}"})
    if errors:
        raise validation_problem(errors)


@router.post(
    "/generate",
    response_model=JobAnswer,
    status_code=202,
    responses={**ONE_CALL_RESPONSES, **PROBLEM_RESPONSES},
    summary="Generate images from noise",
)
async def generate(
    request: GenerateRequest, state: StateDep, response: Response, wait_s: PreferWaitDep,
    idempotency_key: IdempotencyKeyDep, image: AcceptImageDep,
) -> Job:
    """Queue a generation job. With a `seed` the request is deterministic and a repeat is answered
    from the result cache (`cached: true`) without a worker. With `Accept: image/png` (jpeg, webp)
    the answer is the picture itself (n = 1, or `grid: true`), in one call."""
    pictures = 1 if request.grid else request.interpolate.frames if request.interpolate else request.n
    request = negotiate(request, image, pictures=pictures)
    submitted = await create_once(state, "generate", idempotency_key, request, response,
                                  lambda: submit_generate(state, request, with_picture=image is not None))
    return await answer(state, submitted.job, response, wait_s, image=image, inline=request.inline,
                        picture=submitted.picture)


async def submit_generate(state, request: GenerateRequest, *, with_picture: bool = False) -> Submitted:
    """A cache hit answered (with, `with_picture`, its picture's bytes), or the job queued."""
    return await submit_on_model(state, request.model, lambda manifest: generation_plan(request, manifest),
                                 task="generate", with_picture=with_picture)


def generation_plan(request: GenerateRequest, manifest: Manifest) -> JobPlan:
    """What a checked request asks of which model version, and its cache key when it is seeded."""
    check_labels(request, manifest)
    check_model_params(request, manifest)
    model = ModelRef(name=manifest.name, version=manifest.version)
    # The webhook says where to report, not what to compute: it stays out of params and the cache key.
    params = request.model_dump(exclude={"model", *WEBHOOK_FIELDS})
    deterministic = request.seed is not None
    if not deterministic:
        params["seed"] = secrets.randbelow(2**32)
    digest = request_digest("generate", model, params) if deterministic else None
    return JobPlan("generate", model, params, digest=digest, webhook=request.webhook_spec(),
                   task_kwargs={"cache_digest": digest})
