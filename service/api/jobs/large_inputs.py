"""Large inputs leave Redis (issue 24, item 3), as large outputs do: the image of an /upscale or
/translate, or the tensors of an OIP v2 inference, above GANFORGE_LARGE_OUTPUT_BYTES are put into
the artifact store before their job is recorded, and the job's params say so (`IMAGE_STORED`,
`INPUTS_STORED`); the worker reads them from there (workers/job_io.py). Small inputs stay blobs
in Redis, written with the job's record.

The object is content-addressed beside the large outputs and shares their expiry set and sweep
(service/core/job_store/stored_outputs.py): its expiry is reserved before the put, for as long as
its blob would have lived, so a sweep never deletes it under a job that can still run.
"""

from typing import Any

import anyio.to_thread

from models.artifacts import StoreUnavailable
from models.artifacts.outputs import open_output_store
from service.api.state import ApiState
from service.core.job_store import stored_outputs
from service.core.jobs import STORED_IN_ARTIFACTS


async def store_large_inputs(state: ApiState, params: dict[str, Any],
                             inputs: dict[str, bytes]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The job's params and the inputs left for Redis: each input its params name by digest (an
    image's `image_sha256`, OIP v2 tensors' `inputs_sha256`) that is over the threshold is put into
    the store (on a worker thread: the event loop never waits on the store), marked in the params
    and taken out of `inputs`. StoreUnavailable (503 artifacts-unavailable) when one cannot be
    written: nothing of the job is recorded then."""
    for digest_param, mark in stored_outputs.STORED_MARKS.items():
        sha256 = params.get(digest_param)
        data = inputs.get(sha256) if sha256 is not None else None
        if data is None or len(data) <= state.settings.large_output_bytes:
            continue
        await anyio.to_thread.run_sync(_put, state, sha256, data)
        inputs = {digest: blob for digest, blob in inputs.items() if digest != sha256}
        params = {**params, mark: STORED_IN_ARTIFACTS}
    return params, inputs


def _put(state: ApiState, sha256: str, data: bytes) -> None:
    settings = state.settings
    expires = stored_outputs.expiry_of(settings.output_ttl_s)  # as long as its Redis blob would live
    try:
        stored_outputs.reserve(state.redis, sha256, expires)  # before the put: no sweep deletes it after
        open_output_store(settings.outputs_store_url, settings.s3_endpoint_url).put(sha256, data)
    except StoreUnavailable:  # a bucket that cannot be reached (an OSError too: let through as it is)
        raise
    except TimeoutError as stuck:  # a sweep has held this object for long: the store is slow or away
        raise StoreUnavailable(str(stuck)) from None
    except OSError as failed:  # a local folder that cannot be written (full, read-only): not the client's fault
        raise StoreUnavailable(f"the artifact store's folder cannot be written ({failed.strerror or failed})") from None
