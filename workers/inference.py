"""Inference tasks: they run ONNX-exported generators and write encoded images to Redis."""

import time

from celery import Task, shared_task
from celery.utils.log import get_task_logger

from service.schemas.jobs import Job
from workers.celery_app import GENERATE_TASK
from workers.context import worker_context
from workers.imaging import CONTENT_TYPES, encode, to_uint8
from workers.job_io import job_manifest, job_outputs
from workers.job_runner import JobResult, run_job
from workers.latents import expand_labels, sample_labels, sample_latents

log = get_task_logger(__name__)


@shared_task(name=GENERATE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def generate(self: Task, job_id: str, cache_digest: str | None = None) -> None:
    """Images from noise. Safe to run twice: the seed is fixed in the job before it is queued."""
    context = worker_context(self.app)

    def work(job: Job) -> JobResult:
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

    run_job(context.jobs, job_id, context.settings.lease_ttl_s, work)
