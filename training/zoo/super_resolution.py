"""The bundled `sr-x4`: train it on package photos, export it, judge it on held-out photos
against bicubic, and register it with those figures in its manifest.

Training patches come from the photos of training.data.super_resolution.TRAINING only; the figures are on
training.data.super_resolution.HELD_OUT: PSNR and SSIM on the Y channel with `scale` pixels cropped from
each border (training/evaluation/metrics/fidelity.py), the low-resolution input made by Pillow's bicubic
(antialiased) downscaling of the held-out photo, bicubic meaning Pillow's bicubic upscaling of
that same input. The model runs through ONNX Runtime and the worker's own tiling code
(models/inference/upscale.py).
"""

import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from models.manifest import Manifest, Provenance
from training.data.super_resolution import (
    HELD_OUT,
    TRAINING,
    available,
    held_out_photos,
    training_photos,
)
from training.evaluation.metrics.fidelity import psnr, ssim
from training.trainers.super_resolution import SRConfig
from training.zoo.run import ZooRun

log = logging.getLogger("training.zoo")

MODEL_NAME = "sr-x4"
STEPS = 3200
SEED = 0
EVAL_TILE = 128  # tile size used when judging (exercises tiling)

DEFAULTS = dict(
    generator="msrresnet", scale=4, features=32, blocks=8, upsampler="direct", global_residual=True,
    patch_size=24, batch_size=16, pretrain_fraction=0.94, lr_pretrain=5e-4, lr_g=2e-5, lr_d=1e-4,
    # A PSNR-preserving GAN phase: ESRGAN's pixel 1e-2 / perceptual 1 / GAN 5e-3 trades PSNR for
    # texture; the bundled model keeps L1 dominant and uses a small feature-matching and GAN term.
    pixel_weight=1.0, feature_weight=0.05, gan_weight=1e-3, d_features=16, ema_decay=0.999,
    feature_loss="feature_matching",
)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def bicubic_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(low-resolution input, bicubic upscaling of it) for an HR photo already mod-cropped."""
    h, w = hr.shape[:2]
    lr = np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))
    return lr, np.asarray(Image.fromarray(lr).resize((w, h), Image.BICUBIC))


def evaluate(onnx_path: Path, signature, photos: dict[str, np.ndarray], tile: int) -> dict:
    """PSNR/SSIM (Y, border `scale`) of the model and of bicubic on each photo, and their means."""
    from models.inference.imaging import DecodedImage
    from models.inference.sessions import open_session
    from models.inference.upscale import onnx_runner, upscale_image

    session = open_session(onnx_path)
    scale = signature.scale
    per_image = {}
    for name, photo in photos.items():
        hr = modcrop(photo, scale)
        lr, bicubic = bicubic_pair(hr, scale)
        out, _ = upscale_image(onnx_runner(session, signature), DecodedImage(lr, None), signature, tile=tile)
        per_image[name] = {
            "psnr_y": round(psnr(out, hr, crop_border=scale), 3), "ssim_y": round(ssim(out, hr, crop_border=scale), 4),
            "bicubic_psnr_y": round(psnr(bicubic, hr, crop_border=scale), 3),
            "bicubic_ssim_y": round(ssim(bicubic, hr, crop_border=scale), 4),
        }
    mean = {key: round(float(np.mean([v[key] for v in per_image.values()])), 4)
            for key in ("psnr_y", "ssim_y", "bicubic_psnr_y", "bicubic_ssim_y")}
    return {
        "heldout_psnr_y": mean["psnr_y"], "heldout_ssim_y": mean["ssim_y"],
        "bicubic_psnr_y": mean["bicubic_psnr_y"], "bicubic_ssim_y": mean["bicubic_ssim_y"],
        "psnr_gain_db": round(mean["psnr_y"] - mean["bicubic_psnr_y"], 3),
        "per_image": per_image, "heldout_images": list(photos), "crop_border": scale,
        "protocol": "Y channel (BT.601), border of `scale` cropped; LR by Pillow bicubic downscaling; "
                    "bicubic = Pillow bicubic upscaling of the same LR",
    }


def train_sr_x4(run: ZooRun) -> Manifest:
    import torch  # noqa: F401 - the trainer's

    from models.upscaler_export import export_upscaler
    from training.trainers.super_resolution import train_sr

    config = SRConfig(**DEFAULTS, steps=run.steps_or(STEPS), seed=SEED,
                      checkpoint_every=200 if run.work_dir else 0)
    photos = training_photos()
    log.info("training %s on %d photos: %s", MODEL_NAME, len(photos), ", ".join(available(TRAINING)))
    started = time.monotonic()
    last = [0.0]

    def progress(step, total, losses, rate):
        if time.monotonic() - last[0] > 15 or step == total:
            last[0] = time.monotonic()
            log.info("step %d/%d %s %.1f patches/s %.0fs", step, total,
                     json.dumps({k: round(v, 5) for k, v in losses.items()}), rate, time.monotonic() - started)

    with tempfile.TemporaryDirectory() as scratch:
        work = run.work_dir or Path(scratch)
        result = train_sr(config, photos, progress_fn=progress, checkpoint_dir=work / "checkpoints")
        train_s = time.monotonic() - started
        signature = result.signature()
        onnx_path = work / "model.onnx"
        parity = export_upscaler(result.generator, signature, onnx_path)
        metrics = evaluate(onnx_path, signature, held_out_photos(), EVAL_TILE)
        metrics.update(feature_loss=result.feature_loss, train_s=round(train_s, 1), final_losses=result.losses)
        log.info("held-out figures: %s", json.dumps({k: v for k, v in metrics.items() if k != "per_image"}))
        log.info("per image: %s", json.dumps(metrics["per_image"]))
        provenance = Provenance(
            trainer="srgan", dataset="package-photos:" + ",".join(available(TRAINING)), seed=config.seed,
            steps=result.step, command=run.command, hyperparameters=config.model_dump(),
        )
        with run.registry() as store:
            manifest = store.register(
                MODEL_NAME, onnx_path, task="upscale", architecture=result.architecture,
                config=result.architecture_config, signature=signature, provenance=provenance,
                parity_max_abs_diff=parity, metrics=metrics,
            )
    log.info("registered %s (parity %.2g)%s", manifest.ref, parity, " (dry run: discarded)" if run.dry_run else "")
    if HELD_OUT and set(HELD_OUT) & set(TRAINING):
        raise SystemExit("held-out photos leaked into training")
    return manifest
