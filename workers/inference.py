"""Inference tasks: they run ONNX-exported generators and write encoded images to Redis."""

import time

from celery import Task, shared_task
from celery.utils.log import get_task_logger

from models.store import UnknownModel
from service.schemas.jobs import Job
from workers.celery_app import GENERATE_TASK
from workers.context import worker_context
from workers.imaging import CONTENT_TYPES, encode, to_uint8
from workers.job_runner import JobFailed, JobResult, run_job
from workers.latents import expand_labels, sample_labels, sample_latents

log = get_task_logger(__name__)


@shared_task(name=GENERATE_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def generate(self: Task, job_id: str, cache_digest: str | None = None) -> None:
    """Images from noise. Safe to run twice: the seed is fixed in the job before it is queued."""
    context = worker_context(self.app)

    def work(job: Job) -> JobResult:
        params = job.params
        try:
            manifest = context.models.resolve(f"{job.model.name}:{job.model.version}")
        except UnknownModel as missing:
            raise JobFailed("unknown_model", str(missing)) from None
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
        outputs = context.jobs.put_outputs(job.id, encoded)
        if cache_digest:
            # Before the job turns succeeded, so a client that saw it finish finds the entry.
            context.jobs.cache_put(cache_digest, job.id, outputs, metrics)
        return JobResult(outputs=outputs, metrics=metrics)

    run_job(context.jobs, job_id, context.settings.lease_ttl_s, work)
