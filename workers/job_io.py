"""What every inference task reads from its job and writes back, with failures a client can act on."""

from models.manifest import Manifest
from models.store import UnknownModel
from service.schemas.jobs import Job
from workers.context import WorkerContext
from workers.imaging import DecodedImage, ImageRejected, decode_image
from workers.job_runner import JobFailed, JobResult


def job_manifest(context: WorkerContext, job: Job) -> Manifest:
    """The exact version the API resolved when it accepted the job."""
    try:
        return context.models.resolve(f"{job.model.name}:{job.model.version}")
    except UnknownModel as missing:
        raise JobFailed("unknown_model", str(missing)) from None


def job_input_image(context: WorkerContext, job: Job) -> DecodedImage:
    """The image the client sent, stored by digest when the job was accepted."""
    data = context.jobs.get_blob(job.params["image_sha256"])
    if data is None:
        raise JobFailed("input_expired", "the input image expired before a worker took the job; send it again")
    try:
        return decode_image(data, context.settings.max_input_pixels)
    except ImageRejected as rejected:
        raise JobFailed(rejected.type, rejected.detail) from None


def job_outputs(context: WorkerContext, job: Job, items: list[tuple[str, bytes, str]], metrics: dict,
                cache_digest: str | None) -> JobResult:
    """Store the encoded outputs and, for a deterministic request, the result-cache entry —
    before the job turns succeeded, so a client that saw it finish finds the entry."""
    outputs = context.jobs.put_outputs(job.id, items)
    if cache_digest:
        context.jobs.cache_put(cache_digest, job.id, outputs, metrics)
    return JobResult(outputs=outputs, metrics=metrics)
