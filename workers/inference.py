"""Inference tasks: they run ONNX-exported generators and write encoded images to Redis."""

import time

from celery.utils.log import get_task_logger

from models.inference.imaging import CONTENT_TYPES, encode, to_uint8
from models.inference.latents import expand_labels, sample_labels, sample_latents
from service.core.jobs import Job
from workers.context import WorkerContext
from workers.job_io import job_manifest, job_outputs
from workers.job_runner import JobResult, job_task

log = get_task_logger(__name__)


@job_task("generate")
def generate(context: WorkerContext, job: Job, cache_digest: str | None = None) -> JobResult:
    """Images from noise. Safe to run twice: the seed is fixed in the job before it is queued."""
    params = job.params
    manifest = job_manifest(context, job)
    signature = manifest.signature
    feeds = {"z": sample_latents(params["seed"], params["n"], signature.latent_dim, params.get("truncation"))}
    labels = expand_labels(params.get("labels"), params["n"])
    if "labels" in signature.inputs:
        feeds["labels"] = labels if labels is not None else sample_labels(params["seed"], params["n"], signature.num_classes)
    loaded = context.sessions.get(manifest, context.models.onnx_path(manifest))
    started = time.perf_counter()
    images, batch_images = loaded.run(feeds)
    inferred = time.perf_counter()
    fmt = params["format"]
    pixels = to_uint8(images)
    level = context.settings.png_compress_level
    encoded = [(f"{i}.{fmt}", encode(p, fmt, png_compress_level=level), CONTENT_TYPES[fmt]) for i, p in enumerate(pixels)]
    metrics = {
        "inference_s": round(inferred - started, 5),
        "encode_s": round(time.perf_counter() - inferred, 5),
        "batch_images": batch_images,
    }
    if "labels" in feeds:
        metrics["labels"] = feeds["labels"].tolist()
    return job_outputs(context, job, encoded, metrics, cache_digest)

