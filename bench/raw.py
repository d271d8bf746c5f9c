"""Raw runtimes, no service: PyTorch eager vs ONNX Runtime for the bundled generator, and the
cost of PNG encoding per image at the configured zlib level vs Pillow's default (6).

PyTorch runs the architecture rebuilt from the manifest (`architecture`, `config`) with random
weights: the arithmetic, and so the speed, is the same as with the trained ones.
ONNX Runtime runs the bundled ONNX file through the worker's own `open_session`.
"""

from pathlib import Path

import numpy as np

from bench.timing import interleaved
from models.inference.imaging import encode
from models.inference.latents import sample_labels, sample_latents
from models.inference.pixels import to_uint8
from models.inference.sessions import choose_providers, open_session
from models.manifest import Manifest
from service.core.settings import Settings

BATCHES = (1, 32)
DEFAULT_PNG_LEVEL = 6  # Pillow's default


def feeds_for(manifest: Manifest, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    signature = manifest.signature
    feeds = {"z": sample_latents(seed, n, signature.latent_dim)}
    if "labels" in signature.inputs:
        feeds["labels"] = sample_labels(seed, n, signature.num_classes)
    return feeds


def measure_raw(manifest: Manifest, onnx_path: Path, settings: Settings, *, rounds: int, round_s: float) -> dict:
    import torch

    from models.architectures import build

    providers = choose_providers(settings.ort_providers)
    session = open_session(onnx_path, threads=settings.ort_threads, providers=providers)
    output = manifest.signature.output
    module = build(manifest.architecture, **manifest.config).eval()
    level = settings.png_compress_level

    def torch_call(tensors):
        def call():
            with torch.inference_mode():
                return module(*tensors)
        return call

    def ort_call(feeds):
        return lambda: session.run([output], feeds)

    cases = {}
    for batch in BATCHES:
        feeds = feeds_for(manifest, batch)
        tensors = [torch.from_numpy(feeds[name]) for name in manifest.signature.inputs]
        cases[f"torch_b{batch}"] = torch_call(tensors)
        cases[f"ort_b{batch}"] = ort_call(feeds)

    # Batch 32 as the worker does it end to end: run, convert, encode every image.
    feeds32 = feeds_for(manifest, 32)
    pixels = to_uint8(session.run([output], feeds32)[0])

    def ort_encode(png_level: int):
        def call():
            images = to_uint8(session.run([output], feeds32)[0])
            return [encode(p, "png", png_compress_level=png_level) for p in images]
        return call

    cases["ort_b32_encode_configured"] = ort_encode(level)
    cases["png_batch32_configured"] = lambda: [encode(p, "png", png_compress_level=level) for p in pixels]
    cases["png_batch32_level6"] = lambda: [encode(p, "png", png_compress_level=DEFAULT_PNG_LEVEL) for p in pixels]

    timed = interleaved(cases, rounds=rounds, round_s=round_s)

    def rate(name: str, images: int) -> float:
        return images / timed[name]["median_s"]

    generator = {}
    for batch in BATCHES:
        generator[f"batch_{batch}"] = {
            "torch_images_per_s": rate(f"torch_b{batch}", batch),
            "ort_images_per_s": rate(f"ort_b{batch}", batch),
            "torch_ms_per_call": timed[f"torch_b{batch}"]["median_s"] * 1e3,
            "ort_ms_per_call": timed[f"ort_b{batch}"]["median_s"] * 1e3,
        }
        generator[f"batch_{batch}"]["ort_over_torch"] = (
            generator[f"batch_{batch}"]["ort_images_per_s"] / generator[f"batch_{batch}"]["torch_images_per_s"]
        )
    sizes = {
        lvl: float(np.mean([len(encode(p, "png", png_compress_level=lvl)) for p in pixels]))
        for lvl in (level, DEFAULT_PNG_LEVEL)
    }
    png = {
        "configured_level": level,
        "configured_ms_per_image": timed["png_batch32_configured"]["median_s"] * 1e3 / 32,
        "level6_ms_per_image": timed["png_batch32_level6"]["median_s"] * 1e3 / 32,
        "configured_bytes_per_image": sizes[level],
        "level6_bytes_per_image": sizes[DEFAULT_PNG_LEVEL],
        "ort_ms_per_image_at_batch_32": timed["ort_b32"]["median_s"] * 1e3 / 32,
    }
    png["level6_over_configured_time"] = png["level6_ms_per_image"] / png["configured_ms_per_image"]
    png["encode_over_generator_configured"] = png["configured_ms_per_image"] / png["ort_ms_per_image_at_batch_32"]
    png["encode_over_generator_level6"] = png["level6_ms_per_image"] / png["ort_ms_per_image_at_batch_32"]
    return {
        "providers": session.get_providers(),
        "ort_intra_op_threads": settings.ort_threads or "one per core",
        "torch_threads": torch.get_num_threads(),
        "weights": "PyTorch: random (architecture rebuilt from the manifest); ORT: the bundled ONNX file",
        "generator": generator,
        "png": png,
        "ort_batch32_with_encode_images_per_s": rate("ort_b32_encode_configured", 32),
        "ort_batch32_without_encode_images_per_s": rate("ort_b32", 32),
        "timings": timed,
    }


def ort_batch32(manifest: Manifest, onnx_path: Path, settings: Settings, *, rounds: int, round_s: float) -> dict:
    """Raw ORT at batch 32 alone, with and without encoding: measured beside the n = 32 service
    levels (the ratio's denominator), and again at the end of the run to show the machine's drift."""
    session = open_session(onnx_path, threads=settings.ort_threads, providers=choose_providers(settings.ort_providers))
    output = manifest.signature.output
    feeds = feeds_for(manifest, 32)
    level = settings.png_compress_level

    def with_encode():
        images = to_uint8(session.run([output], feeds)[0])
        return [encode(p, "png", png_compress_level=level) for p in images]

    timed = interleaved({"ort_b32": lambda: session.run([output], feeds), "ort_b32_encode": with_encode},
                        rounds=rounds, round_s=round_s)
    return {
        "ort_batch32_without_encode_images_per_s": 32 / timed["ort_b32"]["median_s"],
        "ort_batch32_with_encode_images_per_s": 32 / timed["ort_b32_encode"]["median_s"],
    }
