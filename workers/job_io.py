"""What every inference task reads from its job and writes back, with failures a client can act on."""

from models.artifacts import ObjectMissing, StoreUnavailable
from models.artifacts.outputs import open_output_store
from models.inference.imaging import DecodedImage, ImageRejected, decode_image
from models.manifest import Manifest
from models.store import UnknownModel
from service.core.job_store import output_entries, stored_outputs
from service.core.jobs import STORED_IN_ARTIFACTS, Job, JobOutput
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
    """The image the client sent, stored by digest when the job was accepted: a blob in Redis, or,
    above GANFORGE_LARGE_OUTPUT_BYTES, an object in the artifact store (service/api/jobs/large_inputs.py)."""
    data = job_input_bytes(context, job, "image_sha256")
    if data is None:
        raise JobFailed("input_expired", "the input image expired before a worker took the job; send it again")
    try:
        return decode_image(data, context.settings.max_input_pixels)
    except ImageRejected as rejected:
        raise JobFailed(rejected.type, rejected.detail) from None


def job_input_bytes(context: WorkerContext, job: Job, digest_param: str) -> bytes | None:
    """The bytes of the input the job's params name by digest (`image_sha256`, `inputs_sha256`):
    a Redis blob, or an object in the artifact store when the params mark it so; None: expired."""
    sha256 = job.params[digest_param]
    if job.params.get(stored_outputs.STORED_MARKS[digest_param]) == STORED_IN_ARTIFACTS:
        return stored_input(context, sha256)
    return context.jobs.get_blob(sha256)


def stored_input(context: WorkerContext, sha256: str) -> bytes | None:
    """An input's bytes from the artifact store; None when the sweep has deleted them (expired)."""
    settings = context.settings
    try:
        return open_output_store(settings.outputs_store_url, settings.s3_endpoint_url).get(sha256)
    except ObjectMissing:
        return None
    except StoreUnavailable as away:
        raise JobFailed("artifacts_unavailable",
                        f"the job's input could not be read: {away}; try again shortly") from None


def job_outputs(context: WorkerContext, job: Job, items: list[tuple[str, bytes, str]], metrics: dict,
                cache_digest: str | None) -> JobResult:
    """The encoded outputs and, for a deterministic request, the result-cache entry, written in
    the round trip that marks the job succeeded, ahead of its status: a client that saw it
    finish finds them. They live for the job's `output_ttl_s` when its params carry one (a job
    answered in one call: GANFORGE_ONE_CALL_TTL_S), else for the result cache's TTL."""
    store = context.jobs
    ttl_s = job.params.get("output_ttl_s")
    outputs = output_entries(job.id, items)
    stored = store_large_outputs(context, outputs, items, ttl_s or store.output_ttl_s)
    cached_metrics = dict(metrics)  # the work's own figures, before the runner adds its own

    def write(pipe) -> None:
        store.stage_blobs(pipe, outputs, items, ttl_s)
        for sha256, expires in stored.items():
            stored_outputs.stage_expiry(pipe, sha256, expires)
        if cache_digest:
            store.cache_put(cache_digest, job.id, outputs, cached_metrics, owner=job.owner, pipe=pipe, ttl_s=ttl_s)

    return JobResult(outputs=outputs, metrics=metrics, writes=write)


def store_large_outputs(context: WorkerContext, outputs: list[JobOutput], items: list[tuple[str, bytes, str]],
                        ttl_s: int) -> dict[str, float]:
    """Outputs above GANFORGE_LARGE_OUTPUT_BYTES into the artifact store, marked `stored` so their
    bytes stay out of Redis; answers their digests and expiry times. Each digest is reserved before
    its put, so a sweep never deletes an object a job still needs (job_store/stored_outputs.py)."""
    settings = context.settings
    large = [(output, data) for output, (_, data, _) in zip(outputs, items, strict=True)
             if len(data) > settings.large_output_bytes]
    if not large:
        return {}
    objects = open_output_store(settings.outputs_store_url, settings.s3_endpoint_url)
    expires = stored_outputs.expiry_of(ttl_s)
    for output, data in large:
        stored_outputs.reserve(context.redis, output.sha256, expires)
        objects.put(output.sha256, data)
        output.stored = STORED_IN_ARTIFACTS
    return {output.sha256: expires for output, _ in large}
