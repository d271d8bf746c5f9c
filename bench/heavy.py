"""A heavier generator, where model time dominates the per-request overhead: what batching buys
when it can.

DCGAN at 64x64 RGB with base_features 64 (`dcgan_generator`, latent 128), random weights (the
arithmetic, and so the speed, is the same as trained ones), exported with the service's own
`export_generator` once per run and registered as `bench-dcgan64` in each bench stack's own model
registry before its worker starts.
"""

import tempfile
from pathlib import Path

from bench import raw
from bench.raw import feeds_for
from bench.timing import interleaved
from models.inference.imaging import encode
from models.inference.pixels import to_uint8
from models.inference.sessions import choose_providers, open_session
from models.manifest import GeneratorSignature, Manifest, Provenance
from models.store import ModelStore
from service.core.settings import Settings

NAME = "bench-dcgan64"
ARCHITECTURE = "dcgan_generator"
CONFIG = {"latent_dim": 128, "channels": 3, "image_size": 64, "base_features": 64}


class HeavyModel:
    """The exported ONNX file, kept for the run, and how to register it in a stack's registry."""

    def __init__(self) -> None:
        import torch

        from models.architectures import build
        from models.export import export_generator

        self._scratch = tempfile.TemporaryDirectory(prefix="bench-heavy-")
        self.onnx_path = Path(self._scratch.name) / "model.onnx"
        torch.manual_seed(0)
        generator = build(ARCHITECTURE, **CONFIG).eval()
        self.signature = GeneratorSignature(
            latent_dim=CONFIG["latent_dim"], num_classes=0, image_size=CONFIG["image_size"],
            channels=CONFIG["channels"], inputs=["z"],
        )
        self.parity = export_generator(generator, self.signature, self.onnx_path)
        self.params = sum(p.numel() for p in generator.parameters())
        self.manifest = self.register(Path(self._scratch.name) / "registry")  # for the raw timings

    def register(self, models_dir: Path) -> Manifest:
        return ModelStore(models_dir).register(
            NAME, self.onnx_path, task="generate", architecture=ARCHITECTURE, config=CONFIG,
            signature=self.signature, parity_max_abs_diff=self.parity,
            provenance=Provenance(trainer="none (random weights)", dataset="none", seed=0, steps=0,
                                  command="bench/heavy.py"),
        )

    def close(self) -> None:
        self._scratch.cleanup()


def measure_raw(model: HeavyModel, settings: Settings, *, rounds: int, round_s: float) -> dict:
    """ORT batch 1 vs 32 (and 32 with uint8 + PNG encoding), interleaved, through the worker's own
    `open_session`."""
    session = open_session(model.onnx_path, threads=settings.ort_threads,
                           providers=choose_providers(settings.ort_providers))
    manifest = model.manifest
    output = manifest.signature.output
    feeds1, feeds32 = feeds_for(manifest, 1), feeds_for(manifest, 32)
    level = settings.png_compress_level
    pixels = to_uint8(session.run([output], feeds32)[0])

    def with_encode():
        images = to_uint8(session.run([output], feeds32)[0])
        return [encode(p, "png", png_compress_level=level) for p in images]

    timed = interleaved({
        "ort_b1": lambda: session.run([output], feeds1),
        "ort_b32": lambda: session.run([output], feeds32),
        "ort_b32_encode": with_encode,
        "png_b32": lambda: [encode(p, "png", png_compress_level=level) for p in pixels],
    }, rounds=rounds, round_s=round_s)
    b1, b32 = 1 / timed["ort_b1"]["median_s"], 32 / timed["ort_b32"]["median_s"]
    return {
        "ort_batch1_images_per_s": b1,
        "ort_batch32_images_per_s": b32,
        "ort_batch1_ms_per_call": timed["ort_b1"]["median_s"] * 1e3,
        "ort_batch32_ms_per_call": timed["ort_b32"]["median_s"] * 1e3,
        "batching_gain": b32 / b1,
        "ort_batch32_with_encode_images_per_s": 32 / timed["ort_b32_encode"]["median_s"],
        "png_ms_per_image": timed["png_b32"]["median_s"] * 1e3 / 32,
        "png_bytes_per_image": float(sum(len(encode(p, "png", png_compress_level=level)) for p in pixels) / 32),
        "timings": timed,
    }


def ort_batch32(model: HeavyModel, settings: Settings, *, rounds: int, round_s: float) -> dict:
    """Raw ORT batch 32 alone, beside the service's n = 32 levels (the ratio's denominator)."""
    return raw.ort_batch32(model.manifest, model.onnx_path, settings, rounds=rounds, round_s=round_s)
