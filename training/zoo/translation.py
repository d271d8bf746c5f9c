"""The bundled translation models `edges2digits-pix2pix` and `thin2bold-cyclegan`: train, export
both directions to ONNX, measure on the held-out split and register; `examples` writes an input
strip and its output strip (held-out digits through the registered ONNX files, as the service
runs them) as PNGs under docs/.
"""

import logging
import time
from pathlib import Path

import numpy as np
import torch

from models.inference.pixels import signed_to_uint8
from models.manifest import Manifest, Provenance
from models.store import ModelStore
from models.translator_export import register_translator
from training.data.input_profile import input_profiles
from training.data.translation import TranslationTask, load_task
from training.trainers.cyclegan import CycleGANConfig, train_cyclegan
from training.trainers.pix2pix import Pix2PixConfig, TranslationResult, train_pix2pix
from training.zoo.run import ZooRun

log = logging.getLogger("training.zoo")

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


TRAINERS = {"pix2pix": train_pix2pix, "cyclegan": train_cyclegan}


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


def train_task(task_name: str, run: ZooRun) -> Manifest:
    recipe = RECIPES[task_name]
    config = recipe["config"].model_copy(update={"steps": run.steps_or(recipe["config"].steps)})
    task = load_task(task_name)
    log.info("training %s (%s) on %d A / %d B images for %d steps", recipe["model_name"], recipe["family"],
             len(task.train_a), len(task.train_b), config.steps)
    started = time.monotonic()

    def progress(step: int, total: int, losses: dict[str, float], images_per_sec: float) -> None:
        if step % 100 == 0 or step == total:
            shown = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            log.info("step %d/%d %s %.0f img/s %.0fs", step, total, shown, images_per_sec, time.monotonic() - started)

    trainer = TRAINERS[recipe["family"]]
    result = trainer(config, task.train_a, task.train_b, progress_fn=progress, checkpoint_dir=run.work_dir)
    metrics = evaluate(result, task)
    metrics["train_s"] = round(time.monotonic() - started, 1)
    metrics["input_profile"] = input_profiles(task.train_a, task.train_b, result.generators, task.domains,
                                              task.train_a.shape[-1], task.name)
    log.info("held-out metrics: %s", metrics)
    provenance = Provenance(
        trainer=recipe["family"], dataset=task.name, seed=config.seed, steps=result.step, command=run.command,
        hyperparameters=config.model_dump(),
    )
    with run.registry() as store:
        manifest = register_translator(result, store, recipe["model_name"], provenance, domains=task.domains, metrics=metrics)
    log.info("ONNX vs PyTorch max |diff| %.2g; registered %s%s", manifest.parity_max_abs_diff, manifest.ref,
             " (dry run: discarded)" if run.dry_run else f" in {run.store}")
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
        row = np.concatenate(list(signed_to_uint8(images[:, 0])), axis=1)
        image = Image.fromarray(row)
        return image.resize((image.width * zoom, image.height * zoom), Image.Resampling.NEAREST)

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{task_name}-input.png", out_dir / f"{task_name}-output.png"]
    strip(inputs).save(paths[0], optimize=True)
    strip(outputs).save(paths[1], optimize=True)
    return paths
