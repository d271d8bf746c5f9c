"""Serving an output that lives in the artifact store (above GANFORGE_LARGE_OUTPUT_BYTES) rather
than in Redis: streamed from the store (a local folder's file as a file), or, with
GANFORGE_OUTPUT_REDIRECT=1 and a bucket, a 307 to a presigned URL that lives as long as the output.

Whether it is still there is Redis's word (its expiry in the stored-outputs set), not the store's:
an output past its time answers 410 even before the sweep has deleted its object.
"""

import time

from fastapi import Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from models.artifacts import ObjectMissing
from models.artifacts.outputs import OutputStore, open_output_store
from service.api.state import ApiState
from service.core.job_store import stored_outputs
from service.core.jobs import JobOutput


def output_store(state: ApiState) -> OutputStore:
    return open_output_store(state.settings.outputs_store_url, state.settings.s3_endpoint_url)


def stored_output(state: ApiState, output: JobOutput, headers: dict[str, str]) -> Response | None:
    """The output's answer, or None when it has expired (the caller's 410). Blocking: a sync route's."""
    return _answer(state, output, stored_outputs.expires_at(state.redis, output.sha256), headers)


async def stored_output_async(state: ApiState, output: JobOutput, headers: dict[str, str]) -> Response | None:
    """`stored_output` on the event loop (the store's first request on a thread of the pool)."""
    expires = await stored_outputs.expires_at_async(state.redis_async, output.sha256)
    return await run_in_threadpool(_answer, state, output, expires, headers)


def stored_bytes(state: ApiState, output: JobOutput) -> bytes | None:
    """The output's bytes, whole (for an answer built from them: OIP v2's tensors), or None when it
    has expired. Blocking."""
    if (stored_outputs.expires_at(state.redis, output.sha256) or 0) <= time.time():
        return None
    try:
        return b"".join(output_store(state).chunks(output.sha256))
    except ObjectMissing:
        return None


def _answer(state: ApiState, output: JobOutput, expires: float | None, headers: dict[str, str]) -> Response | None:
    left_s = (expires or 0) - time.time()
    if left_s <= 0:
        return None
    objects = output_store(state)
    if state.settings.output_redirect:
        url = objects.presigned_url(output.sha256, int(left_s) + 1)
        if url is not None:  # a bucket; a local folder has no URL of its own: streamed below
            return RedirectResponse(url, status_code=307, headers=headers)
    try:
        path = objects.local_path(output.sha256)
        if path is not None:
            return FileResponse(path, media_type=output.content_type, headers=headers)
        return StreamingResponse(objects.chunks(output.sha256), media_type=output.content_type,
                                 headers={**headers, "Content-Length": str(output.size)})
    except ObjectMissing:
        return None
