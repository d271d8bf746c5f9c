"""What every inference task reads from its job and writes back, with failures a client can act on."""

import os
import threading

from models.inference.imaging import DecodedImage, ImageRejected, decode_image
from models.manifest import Manifest
from models.store import UnknownModel
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
    """Store the encoded outputs and, for a deterministic request, the result-cache entry —
    before the job turns succeeded, so a client that saw it finish finds the entry."""
    outputs = context.jobs.put_outputs(job.id, items)
    if cache_digest:
        context.jobs.cache_put(cache_digest, job.id, outputs, metrics)
    return JobResult(outputs=outputs, metrics=metrics)
