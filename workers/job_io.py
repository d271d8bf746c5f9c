"""What every inference task reads from its job and writes back, with failures a client can act on."""

from models.inference.imaging import DecodedImage, ImageRejected, decode_image
from models.manifest import Manifest
from models.store import UnknownModel
from service.core.job_store import output_entries
from service.core.jobs import Job
from workers.context import WorkerContext
from workers.job_runner import JobFailed, JobResult


def job_manifest(context: WorkerContext, job: Job) -> Manifest:
    """The exact version the API resolved when it accepted the job (from memory while its manifest
    is unchanged on disk: ModelStore.resolve_cached)."""
    try:
        return context.models.resolve_cached(f"{job.model.name}:{job.model.version}")
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
    """The encoded outputs and, for a deterministic request, the result-cache entry, written in
    the round trip that marks the job succeeded, ahead of its status: a client that saw it
    finish finds them. They live for the job's `output_ttl_s` when its params carry one (a job
    answered in one call: GANFORGE_ONE_CALL_TTL_S), else for the result cache's TTL."""
    store = context.jobs
    ttl_s = job.params.get("output_ttl_s")
    outputs = output_entries(job.id, items)
    cached_metrics = dict(metrics)  # the work's own figures, before the runner adds its own

    def write(pipe) -> None:
        store.stage_blobs(pipe, outputs, items, ttl_s)
        if cache_digest:
            store.cache_put(cache_digest, job.id, outputs, cached_metrics, owner=job.owner, pipe=pipe, ttl_s=ttl_s)

    return JobResult(outputs=outputs, metrics=metrics, writes=write)
