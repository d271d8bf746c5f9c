"""What the routes that publish a model version through a job share (an uploaded ONNX file,
routers/model_admin.py; an imported checkpoint, routers/model_import.py): the name checked, where
the files are staged for the worker, and the answer once the job has ended or the wait is over."""

import logging
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio.to_thread
from fastapi import Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from models.artifacts import ObjectStore, open_object_store, staging
from models.store import MODEL_NAME
from service.api.errors import Problem
from service.api.state import ApiState
from service.core.jobs import Job, JobError, JobStatus

log = logging.getLogger(__name__)

UPLOADS = Path("uploads") / "models"  # under ARTIFACTS_DIR, where workers/model_upload.py looks
DEFAULT_WAIT_S = 60.0

# The 422 a route makes of its job's failure, or None when the failure is not the client's.
Refusal = Callable[[JobError, str], Problem | None]
# The 422 a route answers for one bad field (field, message, type), in the route's own problem type.
InvalidField = Callable[[str, str, str], Problem]


@asynccontextmanager
async def staged_upload(state: ApiState, name: str, invalid: InvalidField) -> AsyncIterator[Path]:
    """The model `name` checked, then a fresh upload folder for the route to fill and queue its job
    on. Once queued, the folder is the job's; a route that fails before that leaves nothing behind,
    here or in the bucket (`hand_over`'s copy, when queuing failed after it)."""
    if not MODEL_NAME.match(name):
        raise invalid("name", "use 1-64 lowercase letters, digits, '.', '_' or '-'", "invalid_name")
    folder = new_upload_folder(state)
    try:
        yield folder
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        if (objects := _staging_bucket(state)) is not None:
            try:
                await anyio.to_thread.run_sync(staging.drop, objects, folder.name)
            except Exception:  # the bucket away too: the copy stays, harmless, under an unguessable name
                log.warning("could not remove the staged upload %s from the bucket", folder.name, exc_info=True)
        raise


def new_upload_folder(state: ApiState) -> Path:
    """A fresh folder in the shared artifact store for one upload's files."""
    folder = state.settings.artifacts_dir / UPLOADS / secrets.token_hex(12)
    folder.mkdir(parents=True)
    return folder


async def hand_over(state: ApiState, folder: Path) -> None:
    """With GANFORGE_ARTIFACTS_URL, the staged files go to the bucket (uploads/models/<token>/)
    for a worker on another host (workers/model_upload.py pulls them); call it before queuing
    the job. Without one the folder is in the shared artifacts dir already."""
    if (objects := _staging_bucket(state)) is not None:
        await anyio.to_thread.run_sync(staging.push, objects, folder.name, folder)


def _staging_bucket(state: ApiState) -> ObjectStore | None:
    """Where staged uploads go for workers on other hosts (None: the artifacts dir is shared)."""
    settings = state.settings
    if not settings.artifacts_url:
        return None
    return open_object_store(f"{settings.artifacts_url.rstrip('/')}/{UPLOADS.as_posix()}",
                             endpoint_url=settings.s3_endpoint_url)


async def published_answer(state: ApiState, job: Job, wait_s: float | None, refusal: Refusal) -> Response:
    """Wait for the job (`Prefer: wait=N`, DEFAULT_WAIT_S when not said), then answer 201 with the
    new version's manifest, the route's 422 for a refused upload, or 202 with the job still running."""
    wait = min(DEFAULT_WAIT_S if wait_s is None else wait_s, state.settings.max_wait_s)  # wait=0: answer at once
    job = await state.hub.wait(job.id, wait) or job
    return await anyio.to_thread.run_sync(partial(_answer, state, job, refusal))


def _answer(state: ApiState, job: Job, refusal: Refusal) -> Response:
    location = {"Location": f"/jobs/{job.id}"}
    if not job.status.is_terminal:
        return JSONResponse(jsonable_encoder(job), status_code=202, headers=location)
    if job.status == JobStatus.succeeded:
        registered = job.metrics["registered"]
        manifest = state.models.manifest(registered["name"], registered["version"])
        return JSONResponse(jsonable_encoder(manifest), status_code=201,
                            headers={"Location": f"/models/{manifest.name}/versions/{manifest.version}"})
    error = job.error
    if error is not None and (problem := refusal(error, job.id)) is not None:
        raise problem
    raise Problem(500 if error is None or error.type == "internal" else 422, "registration-failed",
                  "The model could not be registered", error.detail if error else f"the job was {job.status.value}",
                  job_id=job.id)
