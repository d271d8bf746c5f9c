"""Inference tasks: they run ONNX-exported generators and write encoded images to Redis."""

import time

from celery.utils.log import get_task_logger

from models.inference.animation import ANIMATION_TYPES, encode_animation
from models.inference.codes import code_matrix
from models.inference.grids import tile
from models.inference.imaging import CONTENT_TYPES, encode
from models.inference.latents import expand_labels, sample_labels, sample_latents
from models.inference.pixels import to_uint8
from models.inference.style import StyleRequest, style_images, style_walk, walk_latents
from models.manifest import Manifest
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
    if signature.codes:
        feeds["codes"] = code_matrix(signature.codes, params["n"], params["seed"], params.get("codes"), labels)
    started = time.perf_counter()
    images, batch_images = sample_images(context, manifest, params, feeds)
    inferred = time.perf_counter()
    fmt = params["format"]
    pixels = to_uint8(images)
    level, quality = context.settings.png_compress_level, params.get("quality")
    if params.get("grid"):  # the n images as one picture, encoded once
        encoded = [(f"grid.{fmt}", encode(tile(images), fmt, png_compress_level=level, quality=quality), CONTENT_TYPES[fmt])]
    else:
        encoded = [(f"{i}.{fmt}", encode(p, fmt, png_compress_level=level, quality=quality), CONTENT_TYPES[fmt])
                   for i, p in enumerate(pixels)]
    if params.get("interpolate"):
        animation = params["interpolate"]["animation"]
        encoded.append((f"walk.{animation}", encode_animation(pixels, animation), ANIMATION_TYPES[animation]))
    metrics = {
        "inference_s": round(inferred - started, 5),
        "encode_s": round(time.perf_counter() - inferred, 5),
        "batch_images": batch_images,
    }
    if "labels" in feeds:
        metrics["labels"] = feeds["labels"].tolist()
    return job_outputs(context, job, encoded, metrics, cache_digest)


def sample_images(context: WorkerContext, manifest: Manifest, params: dict, feeds: dict) -> tuple:
    """Images [N, C, H, W] in [-1, 1] for the request, and the largest batch they rode in.

    A style model runs its mapping graph, works on w, then its synthesis graph; a walk replaces
    the seed's latent by the frames between two seeds."""
    signature = manifest.signature
    main = context.sessions.get(manifest, context.models.onnx_path(manifest))
    walk = params.get("interpolate")
    if signature.style is None:
        if walk:  # a walk in z, any generator
            z = walk_latents(signature, params["seed"], walk["to_seed"], walk["frames"], params.get("truncation"))
            feeds = {**feeds, "z": z}
            for name in ("labels", "codes"):  # the same class and codes in every frame
                if name in feeds:
                    feeds[name] = feeds[name].repeat(walk["frames"], axis=0)
        return main.run(feeds)
    mapping = context.sessions.get(manifest, context.models.onnx_path(manifest).with_name(signature.style.mapping_file))
    psi = params.get("truncation_psi")
    psi = 1.0 if psi is None else psi
    noise_mode = params.get("noise_mode") or "const"
    if walk:
        images = style_walk(mapping.infer, main.infer, signature, params["seed"], walk["to_seed"], walk["frames"],
                            space=walk["space"], labels=feeds.get("labels"), psi=psi, noise_mode=noise_mode)
        return images, len(images)
    mixing = params.get("style_mixing") or {}
    request = StyleRequest(seed=params["seed"], n=params["n"], labels=feeds.get("labels"), psi=psi,
                           mix_seed=mixing.get("seed"), crossover=mixing.get("crossover"), noise_mode=noise_mode)
    # Through the batchers: concurrent requests share mapping and synthesis runs.
    images = style_images(lambda f: mapping.run(f)[0], lambda f: main.run(f)[0], signature, request)
    return images, len(images)
