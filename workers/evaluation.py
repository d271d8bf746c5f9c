"""Evaluation: how close a model version's samples come to real data, recorded in its manifest.

The generator runs as it is served, from its ONNX file through ONNX Runtime. Its samples and
the real images (loaded at the model's size and channels) go through one feature extractor,
chosen by `training.extractor_choice`, and `training.metrics.quality_report` turns them into
FID, KID, precision/recall and, where the extractor has logits, the Inception Score. A
conditional digit model measured with the MNIST classifier also gets its class accuracy: the
share of samples the classifier reads as the digit that was asked for.

Every figure travels with what it depends on (extractor, resize mode, sample counts, seed),
and lands in the manifest under metrics["evaluations"]["{dataset}/{extractor}"], so
GET /models/{name} shows it. Real-data statistics are cached per dataset, image shape,
extractor and resize mode under ARTIFACTS_DIR/real_stats.

Torch and ONNX Runtime are imported inside the functions: inference-only workers import this
module too (it is a task module) and must not load them.

`python -m workers.evaluation --model mnist-cdcgan:1 --store models/zoo --n 2000` measures a
version once from the command line (how the bundled model's figures were made).
"""

from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from models.inference.latents import sample_latents
from models.manifest import GeneratorSignature, Manifest
from models.store import ModelStore, UnknownModel
from service.core.jobs import Job
from service.core.settings import Settings, load_settings
from training.dataset_store import DatasetStore, UnknownDataset
from training.extractor_choice import (
    ExtractorChoice,
    ExtractorUnsuitable,
    choose_extractor,
)
from workers.context import WorkerContext
from workers.job_runner import JobFailed, JobResult, job_task

log = logging.getLogger(__name__)

EVALUATIONS_KEY = "evaluations"
MAX_REAL_IMAGES = 10_000  # an even spread of larger datasets; plenty for FID on small feature spaces
GENERATE_BATCH = 256
DIGIT_CLASSES = [str(d) for d in range(10)]


@job_task("evaluate")
def evaluate(context: WorkerContext, job: Job) -> JobResult:
    """Safe to run twice: the same seed gives the same samples and the same figures."""
    params = job.params
    try:
        manifest = context.models.resolve(f"{job.model.name}:{job.model.version}")
        figures = evaluate_generator(context, manifest, params["dataset"], params["n_samples"],
                                     params["extractor"], params["seed"], job_id=job.id)
    except UnknownModel as missing:
        raise JobFailed("unknown_model", str(missing)) from None
    except UnknownDataset as missing:
        raise JobFailed("unknown_dataset", str(missing)) from None
    except ExtractorUnsuitable as unsuitable:
        raise JobFailed("extractor_unsuitable", str(unsuitable)) from None
    return JobResult(metrics=figures)



def evaluate_generator(context: WorkerContext, manifest: Manifest, dataset_ref: str, n_samples: int,
                       extractor_name: str = "auto", seed: int = 0, *, job_id: str | None = None,
                       store: ModelStore | None = None) -> dict[str, Any]:
    """Measure the version against the dataset, record the figures in its manifest, return them.

    `store` is the registry holding the version (default: the worker's, context.models).
    """
    store = store or context.models
    figures = measure(context.settings, manifest, store.onnx_path(manifest), dataset_ref, n_samples,
                      extractor_name, seed)
    figures["job_id"] = job_id
    record(store, manifest, figures)
    return figures


def evaluate_new_version(context: WorkerContext, manifest: Manifest, job_id: str) -> dict[str, Any]:
    """For the training task: figures of a version it just published, on its training data.

    {} when `train_eval_samples` is 0, the version is not a noise-to-image generator or no
    extractor suits its images. A failure is reported beside the training's metrics instead of
    failing a training that did succeed.
    """
    n = context.settings.train_eval_samples
    signature = manifest.signature
    if not n or not isinstance(signature, GeneratorSignature):
        return {}
    try:
        choose_extractor("auto", channels=signature.channels, image_size=signature.image_size,
                         inception_path=context.settings.inception_path)
    except ExtractorUnsuitable:
        return {}
    try:
        return {"evaluation": evaluate_generator(context, manifest, manifest.provenance.dataset, n, job_id=job_id)}
    except Exception as error:  # noqa: BLE001 - the model is registered; say why it has no figures
        log.exception("evaluating %s failed", manifest.ref)
        return {"evaluation_error": f"{type(error).__name__}: {error}"}


def measure(settings: Settings, manifest: Manifest, onnx_path: Path, dataset_ref: str, n_samples: int,
            extractor_name: str = "auto", seed: int = 0) -> dict[str, Any]:
    """The figures, labelled with everything they depend on; records nothing."""
    from training.metrics import RealStatsCache, quality_report

    signature = manifest.signature
    if not isinstance(signature, GeneratorSignature):
        raise ExtractorUnsuitable(f"{manifest.ref} is a {manifest.task} model; evaluation measures noise-to-image generators")
    choice = choose_extractor(extractor_name, channels=signature.channels, image_size=signature.image_size,
                              inception_path=settings.inception_path)
    datasets = DatasetStore.from_settings(settings)
    datasets.get(dataset_ref)  # UnknownDataset before any work
    extractor = build_extractor(choice)
    images, labels = generate_samples(settings, signature, onnx_path, n_samples, seed)
    real = RealStatsCache(settings.artifacts_dir / "real_stats").get_or_compute(
        real_stats_name(dataset_ref, signature), extractor, lambda: load_real(datasets, dataset_ref, signature),
    )
    report = quality_report(real, images, extractor, seed=seed)
    figures: dict[str, Any] = {
        "model": manifest.ref,
        "dataset": dataset_ref,
        **report,
        "image_size": signature.image_size,
        "extractor_input_size": extractor.input_size,
        "seed": seed,
    }
    if labels is not None and choice.name == "mnist" and signature.class_names == DIGIT_CLASSES:
        figures.update(class_accuracy(extractor.logits(images), labels))
    figures["evaluated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {key: _plain(value) for key, value in figures.items()}


def build_extractor(choice: ExtractorChoice):
    from training.metrics import InceptionExtractor, MnistExtractor

    if choice.name == "mnist":
        return MnistExtractor()
    return InceptionExtractor(choice.inception_file)


def generate_samples(settings: Settings, signature: GeneratorSignature, onnx_path: Path, n: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """n samples as float [N, C, H, W] in [0, 1], and the labels asked for (classes spread evenly)."""
    from workers.sessions import choose_providers, open_session

    session = open_session(onnx_path, threads=settings.ort_threads, providers=choose_providers(settings.ort_providers))
    z = sample_latents(seed, n, signature.latent_dim)
    labels = np.arange(n, dtype=np.int64) % signature.num_classes if "labels" in signature.inputs else None
    batches = []
    for start in range(0, n, GENERATE_BATCH):
        feeds = {"z": z[start : start + GENERATE_BATCH]}
        if labels is not None:
            feeds["labels"] = labels[start : start + GENERATE_BATCH]
        batches.append(session.run([signature.output], feeds)[0])
    return to_unit(np.concatenate(batches)), labels


def load_real(datasets: DatasetStore, dataset_ref: str, signature: GeneratorSignature) -> np.ndarray:
    """The dataset at the model's size and channels, in [0, 1]; an even spread of at most MAX_REAL_IMAGES."""
    images, _, _ = datasets.load_images(dataset_ref, signature.image_size, signature.channels)
    if len(images) > MAX_REAL_IMAGES:
        images = images[np.linspace(0, len(images) - 1, MAX_REAL_IMAGES).round().astype(int)]
    return to_unit(images)


def real_stats_name(dataset_ref: str, signature: GeneratorSignature) -> str:
    """Cache key of the real images: the same dataset loaded at another size is other data."""
    size = signature.image_size
    return f"{dataset_ref}_{size}x{size}x{signature.channels}"


def class_accuracy(logits: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """How often the classifier reads a sample as the class it was generated for, overall and per class."""
    hits = logits.argmax(axis=1) == labels
    return {
        "class_accuracy": hits.mean(),
        "class_accuracy_by_class": {str(c): hits[labels == c].mean() for c in np.unique(labels)},
    }


def record(store: ModelStore, manifest: Manifest, figures: dict[str, Any]) -> None:
    """Keep the newest figures per dataset and extractor in the manifest."""
    key = f"{figures['dataset']}/{figures['extractor']}"
    store.update_metrics(manifest.name, manifest.version, {EVALUATIONS_KEY: {key: figures}})  # merged under the lock


def to_unit(images: np.ndarray) -> np.ndarray:
    """Generator range [-1, 1] -> [0, 1], what the extractors take."""
    return np.clip((images + 1.0) / 2.0, 0.0, 1.0).astype(np.float32, copy=False)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, floats to 6 significant digits."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.6g}")
    if isinstance(value, np.integer):
        return int(value)
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure a model version and record the figures in its manifest.")
    parser.add_argument("--model", required=True, help="name or name:version")
    parser.add_argument("--dataset", help="default: the dataset the version was trained on")
    parser.add_argument("--n", type=int, default=2000, help="generated samples")
    parser.add_argument("--extractor", default="auto", choices=["auto", "mnist", "inception"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", type=Path, help="model registry folder (default: the service's)")
    args = parser.parse_args(argv)
    context = WorkerContext(load_settings())
    store = ModelStore(args.store) if args.store else context.models
    manifest = store.resolve(args.model)
    figures = evaluate_generator(context, manifest, args.dataset or manifest.provenance.dataset, args.n,
                                 args.extractor, args.seed, store=store)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
