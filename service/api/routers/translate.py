"""POST /translate."""

import hashlib

from fastapi import APIRouter, Request, Response

from models.manifest import Manifest
from service.api.auth import RequireScope
from service.api.deps import IdempotencyKeyDep, PreferWaitDep, StateDep
from service.api.errors import Problem
from service.api.image_input import receive_image_request, validate_fields
from service.api.jobs.answer import AcceptImageDep, answer, negotiate
from service.api.jobs.cache import request_digest
from service.api.jobs.idempotency import create_once
from service.api.jobs.plan import JobPlan
from service.api.jobs.submit import submit_on_model
from service.api.schemas.one_call import ONE_CALL_RESPONSES, JobAnswer
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.schemas.translate import (
    REQUEST_BODY_DOCS,
    TranslateBody,
    TranslateRequest,
)
from service.api.schemas.webhooks import WEBHOOK_FIELDS
from service.core.jobs import Job, ModelRef
from service.core.routing import route_by_size

router = APIRouter(tags=["inference"], dependencies=[RequireScope("infer")])

# A cap of this endpoint's own below the general one: the whole image goes through the network
# at once, and a U-Net's activations at 16 Mpx would take gigabytes of worker memory.
MAX_TRANSLATE_PIXELS = 2048 * 2048


def check_direction(manifest: Manifest, direction: str) -> None:
    directions = manifest.signature.directions
    if direction not in directions:
        message = f"{manifest.ref} translates {' and '.join(sorted(directions))} only, not {direction}"
        raise Problem(422, "unknown-direction", "Direction not available", message,
                      errors=[{"field": "direction", "message": message, "type": "unknown_direction"}])


@router.post(
    "/translate",
    response_model=JobAnswer,
    status_code=202,
    responses={
        **ONE_CALL_RESPONSES,
        413: {"description": "The image is over the byte or pixel limit", "content": {"application/problem+json": {}}},
        415: {"description": "Neither multipart/form-data nor JSON", "content": {"application/problem+json": {}}},
        **PROBLEM_RESPONSES,
    },
    summary="Translate an image with an image-to-image model",
    openapi_extra=REQUEST_BODY_DOCS,
)
async def translate(request: Request, state: StateDep, response: Response, wait_s: PreferWaitDep,
                    idempotency_key: IdempotencyKeyDep, image: AcceptImageDep) -> Job:
    """Queue a translation job: the image (multipart part `image`, or `image` in JSON as base64 or
    a data URI) through direction `direction` of `model`. The output keeps the input's size (or its
    fitted size with `resize: fit`) and its alpha. Translation is deterministic, so a repeat of the
    same image and settings is answered from the result cache (`cached: true`)."""
    settings = state.settings
    upload = await receive_image_request(
        request, max_bytes=settings.max_image_bytes, max_pixels=min(settings.max_input_pixels, MAX_TRANSLATE_PIXELS)
    )
    fields: TranslateRequest = negotiate(validate_fields(TranslateRequest, upload.fields), image, pictures=1)
    body = TranslateBody(**fields.model_dump(), image_sha256=hashlib.sha256(upload.data).hexdigest())
    submitted = await create_once(
        state, "translate", idempotency_key, body, response,
        lambda: submit_on_model(state, body.model, lambda manifest: translation_plan(state, body, upload, manifest),
                                task="translate", with_picture=image is not None),
    )
    return await answer(state, submitted.job, response, wait_s, image=image, inline=fields.inline,
                        picture=submitted.picture)


def translation_plan(state, body: TranslateBody, upload, manifest: Manifest) -> JobPlan:
    check_direction(manifest, body.direction)
    model = ModelRef(name=manifest.name, version=manifest.version)
    # The webhook says where to report, not what to compute: it stays out of params and the cache key.
    params = body.model_dump(exclude={"model", *WEBHOOK_FIELDS})
    params.update(width=upload.image.size[0], height=upload.image.size[1])
    digest = request_digest("translate", model, params)
    pixels = upload.image.size[0] * upload.image.size[1]
    # The worker reads the image from Redis, by its digest: stored with the job's record.
    return JobPlan("translate", model, params, digest=digest, webhook=body.webhook_spec(),
                   task_kwargs={"cache_digest": digest}, inputs={body.image_sha256: upload.data},
                   route=route_by_size("translate", pixels, state.settings.heavy_pixels))
