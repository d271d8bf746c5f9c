"""The translate task: an uploaded image through one direction of an image-to-image model.

The input image travels as a blob in Redis (stored by the API under its SHA-256); the worker
decodes it, runs it through the translation pipeline (models/inference/translate.py) with ONNX
Runtime, and encodes the result.
"""

import time

import numpy as np
from celery.utils.log import get_task_logger

from models.inference.imaging import CONTENT_TYPES, encode
from models.inference.pixels import integers_to_unit
from models.inference.translate import resize_image, translate_pixels, with_alpha
from service.core.jobs import Job
from training.data.input_profile import warnings_for
from workers.context import WorkerContext
from workers.job_io import job_input_image, job_manifest, job_outputs
from workers.job_runner import JobFailed, JobResult, job_task

log = get_task_logger(__name__)


@job_task("translate")
def translate(context: WorkerContext, job: Job, cache_digest: str | None = None) -> JobResult:
    """Image to image. Safe to run twice: the input blob and every setting are fixed in the job."""
    params = job.params
    manifest = job_manifest(context, job)
    signature = manifest.signature
    direction = signature.directions.get(params["direction"])
    if direction is None:
        raise JobFailed("unknown_direction", f"{manifest.ref} has no direction {params['direction']!r}")
    decoded = job_input_image(context, job)
    path = context.models.onnx_path(manifest).with_name(direction.onnx_file)
    loaded = context.sessions.get(manifest, path)
    timings = {"inference_s": 0.0}

    def run(batch: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        out = loaded.infer({signature.input: batch})
        timings["inference_s"] += time.perf_counter() - started
        return out

    pixels, alpha, how = translate_pixels(
        run, decoded, channels_in=direction.channels_in, size_multiple=signature.size_multiple,
        image_size=signature.image_size, resize=params["resize"],
    )
    fmt = params["format"]
    started = time.perf_counter()
    encoded = encode(with_alpha(pixels, alpha, fmt), fmt, png_compress_level=context.settings.png_compress_level,
                     quality=params.get("quality"))
    metrics = {
        "inference_s": round(timings["inference_s"], 5),
        "encode_s": round(time.perf_counter() - started, 5),
        "input_size": list(decoded.size),
        "output_size": [pixels.shape[1], pixels.shape[0]],
        "network_size": list(how["network_size"]),
        "tiles": how["tiles"],  # 1: the network ran once over the whole (padded) picture
        "scaled_to": list(how["scaled_to"]) if how["scaled_to"] else None,
        "alpha": alpha is not None and fmt != "jpeg",
        "warnings": input_warnings(manifest, params["direction"], decoded, how["scaled_to"]),
    }
    return job_outputs(context, job, [(f"translated.{fmt}", encoded, CONTENT_TYPES[fmt])], metrics, cache_digest)


def input_warnings(manifest, direction: str, decoded, scaled_to) -> list[str]:
    """Why the input looks unlike what this direction was trained on (training/data/input_profile.py),
    measured as the network saw it; [] when it looks alike or the manifest has no profile."""
    expected = (manifest.metrics.get("input_profile") or {}).get(direction)
    if not expected:
        return []
    gray = integers_to_unit(decoded.pixels)
    gray = gray.mean(axis=2) if gray.ndim == 3 else gray
    if scaled_to:
        gray = resize_image(gray[..., None], tuple(scaled_to))[..., 0]
    return warnings_for(gray, expected)
