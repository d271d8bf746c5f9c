"""Train a bundled translation model, export both directions to ONNX, measure it on its held-out
split and register it (the zoo's `edges2digits-pix2pix` and `thin2bold-cyclegan`):

    python -m training.translation_cli edges2digits --store models/zoo --threads 1
    python -m training.translation_cli thin2bold --store models/zoo --threads 1

`--dry-run` takes a handful of steps into a throwaway store: a smoke test of the whole path.
`--examples docs` trains nothing: it writes an input strip and its output strip (held-out
digits through the registered ONNX files, as the service runs them) as PNGs under docs/.
"""

import argparse
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from models.manifest import Manifest, Provenance
from models.store import ModelStore
from models.translator_export import register_translator
from training.cyclegan_trainer import train_cyclegan
from training.pix2pix_trainer import TranslationResult, train_pix2pix
from training.translation_configs import CycleGANConfig, Pix2PixConfig
from training.translation_data import TranslationTask, load_task

DRY_RUN_STEPS = 3
log = logging.getLogger("training.translation_cli")

# The bundled recipes: the papers' losses and optimiser, networks narrowed for 32x32 digits.
RECIPES = {
    "edges2digits": {
        "family": "pix2pix",
        "model_name": "edges2digits-pix2pix",
        "config": Pix2PixConfig(
            image_size=32, channels_a=1, channels_b=1, generator="unet_32", ngf=16, ndf=32, n_layers_d=2,
            batch_size=16, steps=2000, seed=0,
        ),
    },
    "thin2bold": {
        "family": "cyclegan",
        "model_name": "thin2bold-cyclegan",
        "config": CycleGANConfig(
            image_size=32, channels_a=1, channels_b=1, generator="resnet_6blocks", ngf=16, ndf=32, n_layers_d=2,
            batch_size=4, steps=2500, seed=0,
        ),
    },
}


def translate_all(generator: torch.nn.Module, images: np.ndarray, batch: int = 100) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([generator(torch.from_numpy(images[i:i + batch])).numpy() for i in range(0, len(images), batch)])


def evaluate(result: TranslationResult, task: TranslationTask) -> dict:
    """Quality on the held-out split, in [-1, 1] units (divide by 2 for a fraction of full scale)."""
    a, b = task.test_a, task.test_b
    fake_b = translate_all(result.generators["a2b"], a)
    metrics = {
        "heldout_images": len(a),
        "l1_a2b": float(np.abs(fake_b - b).mean()),
        "baseline_l1_input": float(np.abs(a - b).mean()),
        "baseline_l1_mean_image": float(np.abs(task.train_b.mean(0, keepdims=True) - b).mean()),
    }
    if "b2a" in result.generators:
        g_ba = result.generators["b2a"]
        fake_a = translate_all(g_ba, b)
        metrics.update(
            l1_b2a=float(np.abs(fake_a - a).mean()),
            cycle_l1_a=float(np.abs(translate_all(g_ba, fake_b) - a).mean()),
            cycle_l1_b=float(np.abs(translate_all(result.generators["a2b"], fake_a) - b).mean()),
        )
    return {k: round(v, 5) if isinstance(v, float) else v for k, v in metrics.items()}


def run(task_name: str, store_root: Path, *, steps: int | None, dry_run: bool, command: str,
        checkpoint_dir: Path | None = None) -> Manifest:
    recipe = RECIPES[task_name]
    config = recipe["config"].model_copy(update={"steps": DRY_RUN_STEPS if dry_run else (steps or recipe["config"].steps)})
    task = load_task(task_name)
    log.info("training %s (%s) on %d A / %d B images for %d steps", recipe["model_name"], recipe["family"],
             len(task.train_a), len(task.train_b), config.steps)
    started = time.monotonic()

    def progress(step: int, total: int, losses: dict[str, float], images_per_sec: float) -> None:
        if step % 100 == 0 or step == total:
            shown = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            log.info("step %d/%d %s %.0f img/s %.0fs", step, total, shown, images_per_sec, time.monotonic() - started)

    trainer = train_pix2pix if recipe["family"] == "pix2pix" else train_cyclegan
    result = trainer(config, task.train_a, task.train_b, progress_fn=progress, checkpoint_dir=checkpoint_dir)
    metrics = evaluate(result, task)
    metrics["train_s"] = round(time.monotonic() - started, 1)
    log.info("held-out metrics: %s", metrics)
    provenance = Provenance(
        trainer=recipe["family"], dataset=task.name, seed=config.seed, steps=result.step, command=command,
        hyperparameters=config.model_dump(),
    )
    with tempfile.TemporaryDirectory() as scratch:
        store = ModelStore(Path(scratch) if dry_run else store_root)
        manifest = register_translator(result, store, recipe["model_name"], provenance, domains=task.domains, metrics=metrics)
    log.info("ONNX vs PyTorch max |diff| %.2g; registered %s%s", manifest.parity_max_abs_diff, manifest.ref,
             " (dry run: discarded)" if dry_run else f" in {store_root}")
    return manifest


def onnx_translate(store: ModelStore, manifest: Manifest, direction: str, images: np.ndarray) -> np.ndarray:
    """Held-out images through a registered direction's ONNX file with ONNX Runtime."""
    from models.inference.sessions import open_session

    path = store.onnx_path(manifest).with_name(manifest.signature.directions[direction].onnx_file)
    session = open_session(path)
    return session.run(None, {manifest.signature.input: images})[0]


def write_examples(task_name: str, store_root: Path, out_dir: Path, count: int = 8, zoom: int = 3) -> list[Path]:
    """docs/{task}-input.png and docs/{task}-output.png: `count` held-out digits side by side."""
    from PIL import Image

    store = ModelStore(store_root)
    manifest = store.resolve(RECIPES[task_name]["model_name"])
    task = load_task(task_name)
    inputs = task.test_a[:count]
    outputs = onnx_translate(store, manifest, "a2b", inputs)

    def strip(images: np.ndarray) -> Image.Image:
        row = np.concatenate(list(np.clip(np.rint((images[:, 0] + 1) * 127.5), 0, 255).astype(np.uint8)), axis=1)
        image = Image.fromarray(row)
        return image.resize((image.width * zoom, image.height * zoom), Image.Resampling.NEAREST)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{task_name}-input.png", out_dir / f"{task_name}-output.png"]
    strip(inputs).save(paths[0], optimize=True)
    strip(outputs).save(paths[1], optimize=True)
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m training.translation_cli", description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=sorted(RECIPES))
    parser.add_argument("--store", type=Path, default=Path("models/zoo"), help="model store root")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch (1 by default: reproducible timing)")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="checkpoint here and resume from here")
    parser.add_argument("--dry-run", action="store_true", help=f"{DRY_RUN_STEPS} steps into a temporary store")
    parser.add_argument("--examples", type=Path, default=None, help="write example PNGs here from the registered model; no training")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("torch.onnx", "onnx_ir", "onnxscript"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    if args.examples:
        for path in write_examples(args.task, args.store, args.examples):
            log.info("wrote %s", path)
        return 0
    command = shlex.join(["python", "-m", "training.translation_cli", *argv])
    run(args.task, args.store, steps=args.steps, dry_run=args.dry_run, command=command, checkpoint_dir=args.checkpoint_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
