"""Evaluation of image-to-image versions: upscalers against bicubic, translators against their
targets (paired data) or the target domain (unpaired data).

- Upscaler: each real image (at `EVAL_SIDE`, a multiple of the scale) is shrunk by the model's
  scale (antialiased bicubic, as the SR trainers make their inputs), upscaled by the network and
  by bicubic, and both are compared with the original: PSNR and SSIM on luma with a border of
  `scale` pixels left out, the convention of the SR literature. `beats_bicubic` is the verdict.
- Translator on paired data: L1 and PSNR of a2b(A) against B, beside the identity's (A against
  B): a translator that does not beat doing nothing is no use.
- Translator on unpaired data: FID of a2b(A) against B with the extractor the data calls for,
  beside the identity's FID (A against B).

The networks run from their ONNX files through ONNX Runtime, as they are served. Torch-free
apart from the FID extractor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from models.inference.pixels import signed_to_unit
from models.manifest import Manifest, TranslatorSignature, UpscalerSignature

EVAL_SIDE = 96  # high-resolution side of an upscaler's test images (divisible by 2, 3, 4)
MAX_IMAGES = 200
BATCH = 16


def _session(evaluation, manifest: Manifest, onnx_file: str | None = None):
    from models.inference.sessions import open_session

    path = evaluation.models.onnx_path(manifest)
    if onnx_file:
        path = path.with_name(onnx_file)
    return open_session(path, threads=evaluation.ort_threads, providers=list(evaluation.ort_providers))


def _spread(images: np.ndarray) -> np.ndarray:
    if len(images) > MAX_IMAGES:
        images = images[np.linspace(0, len(images) - 1, MAX_IMAGES).round().astype(int)]
    return images


def _resize_unit(image: np.ndarray, side: int) -> np.ndarray:
    """C x H x W float in [0, 1] -> C x side x side, bicubic (antialiased when shrinking), per plane."""
    planes = [np.asarray(Image.fromarray(p.astype(np.float32), mode="F").resize((side, side), Image.Resampling.BICUBIC))
              for p in image]
    return np.clip(np.stack(planes), 0.0, 1.0)


def upscaler_figures(evaluation, manifest: Manifest, dataset_ref: str) -> dict[str, Any]:
    """PSNR/SSIM (Y) of the network and of bicubic against the originals of `dataset_ref`."""
    from training.evaluation.metrics.fidelity import psnr, ssim

    signature = manifest.signature
    assert isinstance(signature, UpscalerSignature)
    scale = signature.scale
    side = scale * math.ceil(EVAL_SIDE / scale)
    images, _, _ = evaluation.datasets.load_images(dataset_ref, side, signature.channels)
    originals = _spread(signed_to_unit(images))
    small = np.stack([_resize_unit(image, side // scale) for image in originals]).astype(np.float32)
    session = _session(evaluation, manifest)
    upscaled = np.concatenate([session.run([signature.output], {signature.input: small[i : i + BATCH]})[0]
                               for i in range(0, len(small), BATCH)]).clip(0, 1)
    bicubic = np.stack([_resize_unit(image, side) for image in small])

    def mean(metric, images: np.ndarray) -> float:
        values = [metric(a.transpose(1, 2, 0), b.transpose(1, 2, 0), crop_border=scale, data_range=1.0)
                  for a, b in zip(images, originals)]
        return float(np.mean([v for v in values if math.isfinite(v)] or [float("inf")]))

    figures = {
        "psnr_y": mean(psnr, upscaled), "ssim_y": mean(ssim, upscaled),
        "bicubic_psnr_y": mean(psnr, bicubic), "bicubic_ssim_y": mean(ssim, bicubic),
    }
    figures["beats_bicubic"] = bool(figures["psnr_y"] > figures["bicubic_psnr_y"])
    return {"kind": "upscaler", "scale": scale, "n_images": len(originals), "hr_size": side,
            "downscale": "bicubic_aa", "crop_border": scale, "channel": "y", **figures}


def translate_batches(evaluation, manifest: Manifest, direction: str, images: np.ndarray) -> np.ndarray:
    signature = manifest.signature
    session = _session(evaluation, manifest, signature.directions[direction].onnx_file)
    return np.concatenate([session.run([signature.output], {signature.input: images[i : i + BATCH]})[0]
                           for i in range(0, len(images), BATCH)])


def translator_figures(evaluation, manifest: Manifest, dataset_ref: str, extractor_name: str = "auto",
                       seed: int = 0) -> dict[str, Any]:
    """a2b on the dataset's A images, measured against its B images (pairs) or B domain (FID)."""
    signature = manifest.signature
    assert isinstance(signature, TranslatorSignature)
    direction = signature.directions["a2b"]
    record = evaluation.datasets.get(dataset_ref)
    domain_a, domain_b = evaluation.datasets.load_pairs(dataset_ref, signature.image_size, direction.channels_in)
    domain_a, domain_b = _spread(domain_a), _spread(domain_b)
    translated = translate_batches(evaluation, manifest, "a2b", domain_a)
    base = {"kind": "translator", "direction": "a2b", "image_size": signature.image_size,
            "n_a": len(domain_a), "n_b": len(domain_b)}
    if record.layout == "paired":
        fake, real, identity = signed_to_unit(translated), signed_to_unit(domain_b), signed_to_unit(domain_a)
        figures = {"l1": _l1(fake, real), "psnr": _psnr(fake, real),
                   "identity_l1": _l1(identity, real), "identity_psnr": _psnr(identity, real)}
        figures["beats_identity"] = bool(figures["l1"] < figures["identity_l1"])
        return {**base, "pairs": True, **figures}
    return {**base, "pairs": False, **_unpaired_fid(evaluation, record, translated, domain_a, domain_b,
                                                   extractor_name, seed)}


def _unpaired_fid(evaluation, record, translated, domain_a, domain_b, extractor_name, seed) -> dict[str, Any]:
    from training.evaluation.extractor_choice import choose_extractor, is_digit_data
    from training.evaluation.metrics import build_extractor, quality_report

    choice = choose_extractor(extractor_name, channels=translated.shape[1], digits=is_digit_data(record.id, record.classes),
                              inception_path=evaluation.inception_path)
    real = signed_to_unit(domain_b)
    extractor = build_extractor(choice, evaluation.extractor_device, real)
    report = quality_report(real, signed_to_unit(translated), extractor, seed=seed)
    identity = quality_report(real, signed_to_unit(domain_a), extractor, seed=seed)
    return {**report, "identity_fid": identity["fid"], "beats_identity": bool(report["fid"] < identity["fid"])}


def _l1(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)
