"""What every inference task reads from its job and writes back, with failures a client can act on."""

import os
import threading

from models.inference.imaging import DecodedImage, ImageRejected, decode_image
from models.manifest import Manifest
from models.store import UnknownModel
from service.core.job_store import output_entries
from service.core.jobs import Job
from workers.context import WorkerContext
from workers.job_runner import JobFailed, JobResult

# (registry root, name, version) -> (the manifest file's stat signature, its manifest). Resolving
# reads a folder listing and parses JSON, ~0.2 ms, on every job; one stat() tells whether the
# version is still there and unchanged, so a deleted or rewritten version is seen at once.
_manifests: dict[tuple[str, str, int], tuple[tuple[int, int, int], Manifest]] = {}
_manifests_lock = threading.Lock()


def job_manifest(context: WorkerContext, job: Job) -> Manifest:
    """The exact version the API resolved when it accepted the job."""
    store, name, version = context.models, job.model.name, job.model.version
    key = (str(store.root), name, version)
    try:
        st = os.stat(store.root / name / str(version) / "manifest.json")
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
    except (OSError, ValueError):
        signature = None  # not there (or not a path at all): resolve says why
    if signature is not None:
        cached = _manifests.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
    try:
        manifest = store.resolve(f"{name}:{version}")
    except UnknownModel as missing:
        raise JobFailed("unknown_model", str(missing)) from None
    if signature is not None:
        with _manifests_lock:
            _manifests[key] = (signature, manifest)
    return manifest


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
    finish finds them."""
    store = context.jobs
    outputs = output_entries(job.id, items)
    cached_metrics = dict(metrics)  # the work's own figures, before the runner adds its own

    def write(pipe) -> None:
        store.stage_blobs(pipe, outputs, items)
        if cache_digest:
            store.cache_put(cache_digest, job.id, outputs, cached_metrics, owner=job.owner, pipe=pipe)

    return JobResult(outputs=outputs, metrics=metrics, writes=write)
