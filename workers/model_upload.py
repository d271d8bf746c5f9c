"""The register_model task: an uploaded ONNX file checked against its manifest, then published.

The API streamed the file into the shared artifact store (ARTIFACTS_DIR/uploads/models/<token>/,
or that prefix of the bucket with GANFORGE_ARTIFACTS_URL) and queued this job; ONNX Runtime runs here, never in the API. Whatever the outcome, the staged
upload is removed.
"""

import shutil
from pathlib import Path

from models.artifacts import ObjectStore, open_object_store, staging
from models.manifest import Manifest
from models.onnx_check import ModelRejected, check_uploaded_onnx
from service.core.jobs import Job
from workers.context import WorkerContext
from workers.job_runner import JobFailed, JobResult, job_task

UPLOADS = Path("uploads") / "models"  # under ARTIFACTS_DIR; the API writes there (routers/model_admin.py)


def staged_upload(context: WorkerContext, token: str) -> Path:
    """The upload's folder; with GANFORGE_ARTIFACTS_URL, pulled from the bucket, where the API
    (service/api/model_jobs.py hand_over) put it, into this host's artifacts dir."""
    root = (context.settings.artifacts_dir / UPLOADS).resolve()
    folder = (root / token).resolve()
    if folder.parent != root:
        raise JobFailed("invalid_model", "the staged upload is not in the upload area")
    if context.settings.artifacts_url:
        staging.pull(_bucket_uploads(context), token, folder)
    return folder


def discard_upload(context: WorkerContext, token: str, folder: Path) -> None:
    """The job is done with the upload, whatever its outcome: gone from here and from the bucket."""
    shutil.rmtree(folder, ignore_errors=True)
    if context.settings.artifacts_url:
        staging.drop(_bucket_uploads(context), token)


def _bucket_uploads(context: WorkerContext) -> ObjectStore:
    settings = context.settings
    return open_object_store(f"{settings.artifacts_url.rstrip('/')}/{UPLOADS.as_posix()}",
                             endpoint_url=settings.s3_endpoint_url)


@job_task("register_model")
def register_model(context: WorkerContext, job: Job) -> JobResult:
    """Check and publish an uploaded version. Safe to run twice: a second run finds the staged
    file gone and fails without publishing anything."""
    params = job.params
    folder = staged_upload(context, params["upload"])
    path = folder / "model.onnx"
    if not path.is_file():
        raise JobFailed("upload_gone", "the uploaded file is no longer staged; upload it again")
    upload = params["manifest"]
    try:
        manifest = Manifest.model_validate({  # the upload's fields, with what the registry fills in
            "name": params["name"], "version": 1, "onnx_sha256": "0" * 64, "parity_max_abs_diff": 0.0, **upload,
        })
        facts = check_uploaded_onnx(path, manifest.signature)
        registered = context.models.register(
            params["name"], path, task=manifest.task, architecture=manifest.architecture, config=manifest.config,
            signature=manifest.signature, provenance=manifest.provenance,
            parity_max_abs_diff=0.0, metrics=manifest.metrics, aliases=tuple(params["aliases"]),
        )
    except ModelRejected as rejected:
        raise JobFailed("invalid_model", str(rejected)) from None
    finally:
        discard_upload(context, params["upload"], folder)
    return JobResult(metrics={"registered": {"name": registered.name, "version": registered.version}, **facts})
