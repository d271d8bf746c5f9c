"""Answering with a job: 202 with its Location, or 200 once it has finished within `Prefer: wait`,
and the one-call picture.

One call for an image: `Accept: image/png` (or image/jpeg, image/webp) on /generate, /translate
and /upscale answers with the picture's bytes once the job has finished.

- The format comes from Accept (a `format` field that differs is a 406); the request must make
  one picture: n = 1, or `grid: true` for n images in one.
- An image Accept implies `Prefer: wait` (up to max_wait_s) unless Prefer names its own wait.
- A job still running at the end of the wait is answered 202 with its JSON, as without Accept;
  a failed job is a 422 problem and a canceled one a 409, each naming the job.
- The answer carries the job's id in `GANForge-Job-Id` and `Location`, and the output's own URL
  in `Content-Location`.
- `"inline": true` makes a JSON answer carry each finished output as a data URI.
- Its client has the picture already, so its output (and its result-cache entry) is kept only for
  GANFORGE_ONE_CALL_TTL_S (5 minutes), not the result cache's hour; `Prefer: keep-output` keeps it
  for the hour, as for a job answered with JSON (`Preference-Applied: keep-output` says so).
"""

import base64
from contextvars import ContextVar
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Response
from pydantic import BaseModel

from service.api.errors import Problem
from service.api.outputs_from_store import stored_output_async
from service.api.schemas.one_call import (
    INLINE_MAX_BYTES,
    JOB_ID_HEADER,
    InlineOutput,
    JobAnswer,
)
from service.api.state import ApiState
from service.core.jobs import Job, JobOutput, JobStatus

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
ANY_IMAGE = "*"
_JSON_RANGES = frozenset({"application/json", "application/problem+json", "application/*", "*/*"})
KEEP_OUTPUT = "keep-output"
# Whether the request being served said `Prefer: keep-output`, for the submit path below the router
# (set by `accepted_image`, in the request's own context, as service/api/caller.py's key is).
_keeps_output: ContextVar[bool] = ContextVar("ganforge_keep_output", default=False)


async def accepted_image(
    accept: Annotated[str | None, Header(description="`image/png`, `image/jpeg` or `image/webp` to be answered "
                                                     "with the picture itself (n = 1, or `grid`). Its output is "
                                                     "then kept for GANFORGE_ONE_CALL_TTL_S (5 minutes) unless "
                                                     "`Prefer: keep-output` asks for the result cache's TTL.")] = None,
    prefer: Annotated[str | None, Header(include_in_schema=False)] = None,  # documented with `wait`
) -> str | None:
    """The image format the client prefers the answer in, or None for JSON (RFC 9110 q-values;
    among equals the first listed wins)."""
    _keeps_output.set(_prefers_kept_output(prefer))
    if not accept:
        return None
    ranges = []
    for index, part in enumerate(accept.split(",")):
        media, *parameters = [p.strip() for p in part.split(";")]
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((-quality, index, media.lower()))
    for _, _, media in sorted(ranges):
        if media in IMAGE_FORMATS:
            return IMAGE_FORMATS[media]
        if media == "image/*":
            return ANY_IMAGE
        if media in _JSON_RANGES:
            return None
    return None


AcceptImageDep = Annotated[str | None, Depends(accepted_image)]


def _prefers_kept_output(prefer: str | None) -> bool:
    """Whether Prefer names keep-output (RFC 7240: preferences apart by commas, each one's
    parameters after semicolons)."""
    return any(part.split(";")[0].strip().lower() == KEEP_OUTPUT for part in (prefer or "").split(","))


def keeps_output() -> bool:
    """Whether the request being served asked to keep its output (`Prefer: keep-output`)."""
    return _keeps_output.get()


R = TypeVar("R", bound=BaseModel)


def negotiate(request: R, image: str | None, *, pictures: int) -> R:
    """The request with its format taken from Accept; 406 when the answer can't be one picture."""
    if image is None:
        return request
    if pictures != 1:
        raise Problem(
            406, "not-acceptable", "Not one picture",
            "an image answer (Accept: image/...) holds one picture: ask for n = 1, or set grid: true to get "
            "the n images as one; or accept application/json",
        )
    if image == ANY_IMAGE:
        return request
    if "format" in request.model_fields_set and request.format != image:
        raise Problem(
            406, "not-acceptable", "Format and Accept differ",
            f"Accept asks for image/{image} but format is {request.format!r}; drop one of them",
        )
    return request.model_copy(update={"format": image})


async def job_answer(state: ApiState, job: Job, response: Response, wait_s: float | None) -> Job:
    """202 with Location for a job still under way; 200 once it is finished (`Prefer: wait=N`).

    The wait is capped at `max_wait_s`, and `Preference-Applied` says the wait applied. It holds
    no thread: the process's event hub wakes it when the job's stream grows.
    """
    try:
        if wait_s and not job.status.is_terminal:
            applied = min(wait_s, state.settings.max_wait_s)
            job = await state.hub.wait(job.id, applied) or job
            response.headers["Preference-Applied"] = f"wait={applied:g}"
    finally:
        if state.hub is not None:
            state.hub.forget(job.id)  # answered: nothing more to keep for it
        if state.coalescer is not None:
            state.coalescer.answered(job.id)  # its client no longer waits to be coalesced with
    response.headers["Location"] = f"/jobs/{job.id}"
    response.status_code = 200 if job.status.is_terminal else 202
    return job


def picture_output(job: Job) -> JobOutput | None:
    """The output a one-call answer shows: the grid when there is one, else the first picture."""
    pictures = [o for o in job.outputs if o.content_type.startswith("image/")]
    grids = [o for o in pictures if o.name.startswith("grid.")]
    return (grids or pictures or [None])[0]



async def answer(state: ApiState, job: Job, response: Response, wait_s: float | None, *, image: str | None,
                 inline: bool, picture: bytes | None = None) -> Job | JobAnswer | Response:
    """The job as JSON (202 or 200), its outputs inline, or its picture (`picture`: its bytes, when
    the caller already has them)."""
    if image is not None and wait_s is None:
        wait_s = state.settings.max_wait_s
    job = await job_answer(state, job, response, wait_s)
    if image is not None and keeps_output():
        applied = response.headers.get("Preference-Applied")
        response.headers["Preference-Applied"] = f"{applied}, {KEEP_OUTPUT}" if applied else KEEP_OUTPUT
    if image is not None and job.status.is_terminal:
        return await picture_response(state, job, response, prefetched=picture)
    if inline and job.status == JobStatus.succeeded:
        return await with_inline_outputs(state, job)
    return job


async def picture_response(state: ApiState, job: Job, response: Response, *,
                           prefetched: bytes | None = None) -> Response:
    names = {"Location": f"/jobs/{job.id}", JOB_ID_HEADER: job.id}
    if job.status == JobStatus.canceled:
        raise Problem(409, "job-canceled", "Job canceled", f"job {job.id} was canceled before it finished",
                      headers=names, job_id=job.id)
    output = picture_output(job) if job.status == JobStatus.succeeded else None
    if output is None:
        error = job.error.model_dump() if job.error else {"type": "no_output", "detail": "the job made no picture"}
        raise Problem(422, "job-failed", "Job failed", f"job {job.id} failed: {error['type']}: {error['detail']}",
                      headers=names, job_id=job.id, error=error)
    # What the route set (Preference-Applied, Idempotent-Replayed), and the picture's own.
    headers = {name: value for name, value in response.headers.items() if name not in ("content-length", "content-type")}
    own = {**names, "Content-Location": output.url, "ETag": f'"{output.sha256}"', "Vary": "Accept"}
    headers.update({name.lower(): value for name, value in own.items()})  # the route's are lower case
    if output.stored:  # a large output: in the artifact store, not Redis
        picture = await stored_output_async(state, output, headers)
    else:
        data = prefetched
        if data is None:
            data = await state.jobs_async.get_blob(output.sha256)
        picture = None if data is None else Response(data, status_code=200, media_type=output.content_type,
                                                     headers=headers)
    if picture is None:
        raise Problem(410, "output-expired", "Output expired",
                      f"{output.name} of job {job.id} expired from the result cache; submit the job again",
                      headers=names)
    return picture


async def with_inline_outputs(state: ApiState, job: Job) -> JobAnswer:
    """The job with its outputs' bytes as data URIs, while they fit in INLINE_MAX_BYTES."""
    budget = INLINE_MAX_BYTES
    outputs = []
    for output in job.outputs:
        data_uri = None
        if output.size <= budget and not output.stored:  # a stored one is over any inline budget
            data = await state.jobs_async.get_blob(output.sha256)
            if data is not None:
                data_uri = f"data:{output.content_type};base64,{base64.b64encode(data).decode()}"
                budget -= len(data)
        outputs.append(InlineOutput(**output.model_dump(), data_uri=data_uri))
    return JobAnswer(**job.model_dump(exclude={"outputs"}), outputs=outputs)
