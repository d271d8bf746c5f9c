"""POST /upscale."""

import hashlib

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from models.inference.imaging import DecodedImage
from models.manifest import Manifest
from service.api.auth import RequireScope
from service.api.deps import IdempotencyKeyDep, PreferWaitDep, StateDep
from service.api.errors import Problem, invalid
from service.api.image_input import receive_image_request, validate_fields
from service.api.jobs.answer import AcceptImageDep, answer, negotiate
from service.api.jobs.cache import request_digest
from service.api.jobs.idempotency import create_once
from service.api.jobs.plan import JobPlan
from service.api.jobs.submit import submit_on_model
from service.api.model_refs import resolve_model
from service.api.schemas.one_call import ONE_CALL_RESPONSES, JobAnswer
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.schemas.upscale import UNTILED_MAX_PIXELS, UpscaleRequest
from service.api.schemas.webhooks import WEBHOOK_FIELDS
from service.core.jobs import Job, ModelRef
from service.core.routing import route_by_size

router = APIRouter(tags=["inference"], dependencies=[RequireScope("infer")])

_REQUEST_BODY = {
    "content": {
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["image", "model"],
            "properties": {"image": {"type": "string", "format": "binary", "description": "The image file."},
                           **UpscaleRequest.model_json_schema()["properties"]},
        }},
        "application/json": {"schema": {
            "type": "object", "required": ["image", "model"],
            "properties": {"image": {"type": "string", "description": "The image as base64 or a data URI."},
                           **UpscaleRequest.model_json_schema()["properties"]},
        }},
    },
    "required": True,
}


class _Keyed(BaseModel):
    """What an Idempotency-Key repeat must match: the fields and the image bytes."""

    request: UpscaleRequest
    image_sha256: str


def check_sizes(request: UpscaleRequest, manifest: Manifest, size: tuple[int, int],
                max_output_pixels: int) -> float:
    """The final factor; 413/422 when the request would make too large an image or can't be tiled."""
    width, height = size
    scale = manifest.signature.scale
    outscale = request.outscale or float(scale)
    largest = max(outscale, scale)  # the network's output is held too, before any resampling
    pixels = round(width * largest) * round(height * largest)
    if pixels > max_output_pixels:
        raise Problem(
            413, "output-too-large", "Output too large",
            f"{width}x{height} at x{largest:g} makes {pixels} pixels; the limit is {max_output_pixels}",
            errors=[{"field": "outscale", "message": f"the output would be over {max_output_pixels} pixels",
                     "type": "output_too_large"}],
        )
    if request.tile == 0 and width * height > UNTILED_MAX_PIXELS:
        raise invalid("tile", f"tile 0 (no tiling) is for inputs up to {UNTILED_MAX_PIXELS} pixels; "
                              f"this one has {width * height}: give a tile size", "tiling_required")
    return outscale


@router.post(
    "/upscale",
    response_model=JobAnswer,
    status_code=202,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={**ONE_CALL_RESPONSES,
               413: {"description": "Image or output over the byte or pixel limits"}, **PROBLEM_RESPONSES},
    summary="Upscale an image (super-resolution)",
)
async def upscale(request: Request, state: StateDep, response: Response, wait_s: PreferWaitDep,
                  idempotency_key: IdempotencyKeyDep, image: AcceptImageDep) -> Job:
    """Queue a super-resolution job: multipart (`image` file part plus form fields) or JSON (`image`
    as base64). Deterministic, so a repeat of the same image and fields is answered from the result
    cache (`cached: true`) without a worker."""
    settings = state.settings
    async def refuse_early(size: tuple[int, int], fields: dict) -> None:
        # An input at the pixel limit is cheap to read the size of and dear to decode: refuse an
        # output that would be too large before decoding it.
        early = validate_fields(UpscaleRequest, fields)
        check_sizes(early, await resolve_model(state, early.model, "upscale"), size, settings.max_output_pixels)

    received = await receive_image_request(request, max_bytes=settings.max_image_bytes,
                                           max_pixels=settings.max_input_pixels, before_decode=refuse_early)
    body = negotiate(validate_fields(UpscaleRequest, received.fields), image, pictures=1)
    keyed = _Keyed(request=body, image_sha256=hashlib.sha256(received.data).hexdigest())
    submitted = await create_once(
        state, "upscale", idempotency_key, keyed, response,
        lambda: submit_on_model(state, body.model,
                                lambda manifest: upscale_plan(state, body, received.data, keyed.image_sha256, received.image,
                                                             manifest),
                                task="upscale", with_picture=image is not None),
    )
    return await answer(state, submitted.job, response, wait_s, image=image, inline=body.inline,
                        picture=submitted.picture)


def upscale_plan(state, request: UpscaleRequest, data: bytes, sha256: str, image: DecodedImage,
                 manifest: Manifest) -> JobPlan:
    outscale = check_sizes(request, manifest, image.size, state.settings.max_output_pixels)
    model = ModelRef(name=manifest.name, version=manifest.version)
    params = request.model_dump(exclude={"model", *WEBHOOK_FIELDS})
    params.update(outscale=outscale, image_sha256=sha256, input_size=list(image.size),
                  input_bits=16 if image.max_value > 255 else 8)
    digest = request_digest("upscale", model, params)
    largest = max(outscale, manifest.signature.scale)  # the network's output is held too
    pixels = round(image.size[0] * largest) * round(image.size[1] * largest)
    # The bytes live as long as a result does, stored with the job's record; the worker decodes
    # them again (cheap next to the network).
    return JobPlan("upscale", model, params, digest=digest, webhook=request.webhook_spec(),
                   task_kwargs={"cache_digest": digest}, inputs={sha256: data},
                   route=route_by_size("upscale", pixels, state.settings.heavy_pixels))
