"""The upscale task: an uploaded image through a super-resolution model, tiled
(models/inference/upscale.py) and run with ONNX Runtime, then encoded."""

import time

import numpy as np
from celery.utils.log import get_task_logger

from models.inference.imaging import CONTENT_TYPES
from models.inference.upscale import encode_owned, to_format, upscale_image
from service.core.jobs import Job
from workers.context import WorkerContext
from workers.job_io import job_input_image, job_manifest, job_outputs
from workers.job_runner import JobResult, job_task

log = get_task_logger(__name__)


@job_task("upscale")
def upscale(context: WorkerContext, job: Job, cache_digest: str | None = None) -> JobResult:
    """Safe to run twice: the same input blob and params give the same bytes."""
    params = job.params
    manifest = job_manifest(context, job)
    image = job_input_image(context, job)
    loaded = context.sessions.get(manifest, context.models.onnx_path(manifest))
    pixels, figures = upscale_image(
        lambda batch: loaded.infer({manifest.signature.input: batch}), image, manifest.signature,
        outscale=params.get("outscale"), tile=params["tile"], overlap=params["tile_overlap"],
    )
    fmt = params["format"]
    started = time.perf_counter()
    pixels = to_format(pixels, fmt)
    bits = 16 if pixels.dtype == np.uint16 else 8
    holder = [pixels]
    del pixels
    encoded = encode_owned(holder, fmt, context.settings.png_compress_level, quality=params.get("quality"))
    metrics = {**figures, "encode_s": round(time.perf_counter() - started, 4), "bits": bits}
    return job_outputs(context, job, [(f"upscaled.{fmt}", encoded, CONTENT_TYPES[fmt])], metrics, cache_digest)
