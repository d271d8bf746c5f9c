"""Train a model from the command line, export it to ONNX and register it as a new version.

    python -m training.cli dcgan --dataset mnist-5k --conditional --steps 3000 --seed 0 \
        --model-name mnist-cdcgan --store models/zoo

`--dry-run` takes a handful of steps into a throwaway store: a smoke test of the whole path.
"""

import argparse
import logging
import shlex
import sys
import tempfile
from pathlib import Path

import torch

from models.manifest import Manifest, Provenance
from models.store import ModelStore
from training.datasets import BUILTIN_DATASETS, load_builtin
from training.dcgan_trainer import DCGANConfig, train_dcgan
from training.publish import publish_generator

DRY_RUN_STEPS = 5
log = logging.getLogger("training.cli")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.cli", description=__doc__.split("\n")[0])
    families = parser.add_subparsers(dest="family", required=True)
    dcgan = families.add_parser("dcgan", help="DCGAN, plain or class-conditional")
    defaults = DCGANConfig()
    dcgan.add_argument("--dataset", choices=sorted(BUILTIN_DATASETS), required=True)
    dcgan.add_argument("--image-size", type=int, default=None, help="resize the dataset (default: its own size)")
    dcgan.add_argument("--conditional", action="store_true", help="condition on the class label")
    dcgan.add_argument("--steps", type=int, default=defaults.steps)
    dcgan.add_argument("--seed", type=int, default=defaults.seed)
    dcgan.add_argument("--batch-size", type=int, default=defaults.batch_size)
    dcgan.add_argument("--latent-dim", type=int, default=defaults.latent_dim)
    dcgan.add_argument("--base-features", type=int, default=defaults.base_features)
    dcgan.add_argument("--embed-dim", type=int, default=defaults.embed_dim)
    dcgan.add_argument("--lr-g", type=float, default=defaults.lr_g)
    dcgan.add_argument("--lr-d", type=float, default=defaults.lr_d)
    dcgan.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    dcgan.add_argument("--ema-decay", type=float, default=defaults.ema_decay)
    dcgan.add_argument("--checkpoint-dir", type=Path, default=None, help="checkpoint here and resume from here")
    dcgan.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    dcgan.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    dcgan.add_argument("--model-name", required=True)
    dcgan.add_argument("--store", type=Path, required=True, help="model store root, e.g. models/zoo")
    dcgan.add_argument("--dry-run", action="store_true", help=f"{DRY_RUN_STEPS} steps into a temporary store")
    return parser.parse_args(argv)


def run_dcgan(args: argparse.Namespace, command: str) -> Manifest:
    config = DCGANConfig(
        conditional=args.conditional,
        latent_dim=args.latent_dim,
        base_features=args.base_features,
        embed_dim=args.embed_dim,
        batch_size=args.batch_size,
        steps=DRY_RUN_STEPS if args.dry_run else args.steps,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        label_smoothing=args.label_smoothing,
        ema_decay=args.ema_decay,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
    )
    if args.threads:
        # On a shared machine one thread per run beats two threads fighting for one core.
        torch.set_num_threads(args.threads)
    dataset = load_builtin(args.dataset, image_size=args.image_size)
    log.info("training %s on %s (%d images) for %d steps", args.model_name, dataset.name, len(dataset), config.steps)

    def progress(step: int, total: int, losses: dict[str, float], images_per_sec: float) -> None:
        if step % 100 == 0 or step == total:
            shown = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            log.info("step %d/%d %s %.0f img/s", step, total, shown, images_per_sec)

    result = train_dcgan(config, dataset, progress_fn=progress, checkpoint_dir=args.checkpoint_dir)
    provenance = Provenance(
        trainer="dcgan",
        dataset=dataset.name,
        seed=config.seed,
        steps=result.step,
        command=command,
        hyperparameters=config.model_dump(),
    )
    with tempfile.TemporaryDirectory() as scratch:
        store = ModelStore(Path(scratch) if args.dry_run else args.store)
        manifest = publish_generator(result, store, args.model_name, provenance)
    log.info("exported with ONNX Runtime vs PyTorch max |diff| = %.2g", manifest.parity_max_abs_diff)
    log.info("registered %s%s", manifest.ref, " (dry run: discarded)" if args.dry_run else f" in {args.store}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The exporter and its optimizer log every pass at INFO; keep their warnings only.
    for noisy in ("torch.onnx", "onnx_ir", "onnxscript"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "training.cli", *argv])
    run_dcgan(args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
