"""`python -m training.sr_cli`: train the bundled sr-x4, export it, judge it on held-out photos
against bicubic, and register it with those figures in its manifest.

    python -m training.sr_cli --threads 1 --store models/zoo

Training patches come from the photos of training.sr_data.TRAINING only; the figures are on
training.sr_data.HELD_OUT: PSNR and SSIM on the Y channel with `scale` pixels cropped from
each border (training/metrics/fidelity.py), the low-resolution input made by Pillow's bicubic
(antialiased) downscaling of the held-out photo, bicubic meaning Pillow's bicubic upscaling of
that same input. The model runs through ONNX Runtime and the worker's own tiling code.
"""

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from models.manifest import Provenance
from models.store import ModelStore
from training.metrics.fidelity import psnr, ssim
from training.sr_configs import SRConfig
from training.sr_data import (
    HELD_OUT,
    TRAINING,
    available,
    held_out_photos,
    training_photos,
)

DEFAULTS = dict(
    generator="msrresnet", scale=4, features=32, blocks=8, upsampler="direct", global_residual=True,
    patch_size=24, batch_size=16, pretrain_fraction=0.94, lr_pretrain=5e-4, lr_g=2e-5, lr_d=1e-4,
    # A PSNR-preserving GAN phase: ESRGAN's pixel 1e-2 / perceptual 1 / GAN 5e-3 trades PSNR for
    # texture; the bundled model keeps L1 dominant and uses a small feature-matching and GAN term.
    pixel_weight=1.0, feature_weight=0.05, gan_weight=1e-3, d_features=16, ema_decay=0.999,
    feature_loss="feature_matching",
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.sr_cli", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 for reproducible timing)")
    parser.add_argument("--model-name", default="sr-x4")
    parser.add_argument("--store", type=Path, default=Path("models/zoo"))
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="checkpoints (resumable); default: a temporary folder")
    parser.add_argument("--vgg-weights-path", default=None,
                        help="VGG19 safetensors (torchvision key names) for --feature-loss vgg")
    parser.add_argument("--eval-tile", type=int, default=128, help="tile size used when judging (exercises tiling)")
    for key, value in DEFAULTS.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=value)
        else:
            parser.add_argument(flag, type=type(value), default=value)
    return parser.parse_args(argv)


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


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    from models.upscaler_export import export_upscaler
    from training.sr_trainer import train_sr

    torch.set_num_threads(args.threads)
    config = SRConfig(**{k: getattr(args, k) for k in DEFAULTS}, steps=args.steps, seed=args.seed,
                      vgg_weights_path=args.vgg_weights_path, checkpoint_every=200 if args.work_dir else 0)
    photos = training_photos()
    print(f"training {args.model_name} on {len(photos)} photos: {', '.join(available(TRAINING))}", flush=True)
    started = time.monotonic()
    last = [0.0]

    def progress(step, total, losses, rate):
        if time.monotonic() - last[0] > 15 or step == total:
            last[0] = time.monotonic()
            print(f"step {step}/{total} {json.dumps({k: round(v, 5) for k, v in losses.items()})} "
                  f"{rate:.1f} patches/s {time.monotonic() - started:.0f}s", flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        work = args.work_dir or Path(scratch)
        result = train_sr(config, photos, progress_fn=progress, checkpoint_dir=work / "checkpoints")
        train_s = time.monotonic() - started
        signature = result.signature()
        onnx_path = work / "model.onnx"
        parity = export_upscaler(result.generator, signature, onnx_path)
        metrics = evaluate(onnx_path, signature, held_out_photos(), args.eval_tile)
        metrics.update(feature_loss=result.feature_loss, train_s=round(train_s, 1), final_losses=result.losses)
        print(json.dumps({k: v for k, v in metrics.items() if k != "per_image"}, indent=1), flush=True)
        print(json.dumps(metrics["per_image"], indent=1), flush=True)
        command = "python -m training.sr_cli " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        provenance = Provenance(
            trainer="srgan", dataset="package-photos:" + ",".join(available(TRAINING)), seed=config.seed,
            steps=result.step, command=command.strip(), hyperparameters=config.model_dump(),
        )
        manifest = ModelStore(args.store).register(
            args.model_name, onnx_path, task="upscale", architecture=result.architecture,
            config=result.architecture_config, signature=signature, provenance=provenance,
            parity_max_abs_diff=parity, metrics=metrics,
        )
    print(f"registered {manifest.ref} in {args.store} ({onnx_path.name}, parity {parity:.2g})", flush=True)
    if HELD_OUT and set(HELD_OUT) & set(TRAINING):
        raise SystemExit("held-out photos leaked into training")


if __name__ == "__main__":
    main()
