"""POST /generate."""

import asyncio
import secrets
from dataclasses import dataclass

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from models.manifest import Manifest
from service.api.auth import RequireScope
from service.api.deps import IdempotencyKeyDep, PreferWaitDep, StateDep
from service.api.errors import validation_problem
from service.api.generate_params import check_model_params
from service.api.jobs.answer import AcceptImageDep, answer, negotiate
from service.api.jobs.cache import (
    answer_from_cache,
    answer_from_cache_now,
    request_digest,
)
from service.api.jobs.idempotency import create_once
from service.api.jobs.submit import enqueue, queue_depth_now
from service.api.model_refs import resolve_model, resolve_model_now
from service.api.schemas.generate import GenerateRequest
from service.api.schemas.one_call import ONE_CALL_RESPONSES, JobAnswer
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.schemas.webhooks import WEBHOOK_FIELDS
from service.core.jobs import Job, JobWebhook, ModelRef

router = APIRouter(tags=["inference"], dependencies=[RequireScope("infer")])


def check_labels(request: GenerateRequest, manifest: Manifest) -> None:
    classes = manifest.signature.num_classes
    if request.labels is None:
        return
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
    picture = None
    if idempotency_key is None:  # the usual case: on the event loop until a job must be queued
        job, picture = await submit_generate_now(state, request, with_picture=image is not None)
    else:  # claiming the key and creating the job are one step, in a thread
        job = await run_in_threadpool(create_once, state, "generate", idempotency_key, request, response,
                                      lambda: submit_generate(state, request))
    # Waits without a thread.
    return await answer(state, job, response, wait_s, image=image, inline=request.inline, picture=picture)


def submit_generate(state, request: GenerateRequest) -> Job:
    plan = GenerationPlan.of(request, resolve_model(state, request.model, "generate"))
    cached = plan.digest and answer_from_cache(state, "generate", plan.model, plan.params, plan.digest, plan.webhook)
    return cached or plan.enqueue(state)


async def submit_generate_now(state, request: GenerateRequest, *, with_picture: bool) -> tuple[Job, bytes | None]:
    """`submit_generate` with a cache hit answered on the event loop (and, `with_picture`, its
    picture's bytes read in the same round trips); only queueing takes a thread. An unseeded
    request is queued for sure: its queue's depth is read beside the model's owner."""
    if request.seed is None:
        manifest, depth = await asyncio.gather(resolve_model_now(state, request.model, "generate"),
                                               queue_depth_now(state, "generate"))
        return await run_in_threadpool(GenerationPlan.of(request, manifest).enqueue, state, depth), None
    plan = GenerationPlan.of(request, await resolve_model_now(state, request.model, "generate"))
    hit = await answer_from_cache_now(state, "generate", plan.model, plan.params, plan.digest, plan.webhook,
                                      with_picture=with_picture)
    if hit is not None:
        return hit.job, hit.picture
    return await run_in_threadpool(plan.enqueue, state), None


@dataclass
class GenerationPlan:
    """What a checked request asks of which model version, and its cache key when it is seeded."""

    model: ModelRef
    params: dict
    digest: str | None
    webhook: JobWebhook | None

    @classmethod
    def of(cls, request: GenerateRequest, manifest: Manifest) -> "GenerationPlan":
        check_labels(request, manifest)
        check_model_params(request, manifest)
        model = ModelRef(name=manifest.name, version=manifest.version)
        # The webhook says where to report, not what to compute: it stays out of params and the cache key.
        params = request.model_dump(exclude={"model", *WEBHOOK_FIELDS})
        deterministic = request.seed is not None
        if not deterministic:
            params["seed"] = secrets.randbelow(2**32)
        digest = request_digest("generate", model, params) if deterministic else None
        return cls(model, params, digest, request.webhook_spec())

    def enqueue(self, state, queue_depth: int | None = None) -> Job:
        return enqueue(state, kind="generate", model=self.model, params=self.params,
                       task_kwargs={"cache_digest": self.digest}, webhook=self.webhook, queue_depth=queue_depth)
