"""Evaluation: how close a model version's samples come to real data, recorded in its manifest.

The generator runs as it is served, from its ONNX file through ONNX Runtime. Its samples and
the real images (loaded at the model's size and channels) go through one feature extractor,
chosen by `training.evaluation.extractor_choice`, and `training.evaluation.metrics.quality_report` turns them into
FID, KID, precision/recall and, where the extractor has logits, the Inception Score. A
conditional digit model measured with the MNIST classifier also gets its class accuracy: the
share of samples the classifier reads as the digit that was asked for.

Every figure travels with what it depends on (extractor, resize mode, sample counts, seed),
and lands in the manifest under metrics["evaluations"]["{dataset}/{extractor}"], so
GET /models/{name} shows it. Real-data statistics are cached per dataset, image shape,
extractor and resize mode under ARTIFACTS_DIR/real_stats.

Everything here takes stores, paths and values (an `Evaluation`), not a worker: the evaluate
task, the training recipes and `python -m training evaluate --model mnist-cdcgan:1 --store
models/zoo --n 2000` (how the bundled model's figures were made) all call it. Torch and ONNX
Runtime are imported inside the functions: inference-only workers import the evaluate task,
and through it this module, and must not load them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.inference.codes import code_matrix, labelled_code
from models.inference.latents import sample_latents
from models.inference.pixels import signed_to_unit
from models.inference.style import synthesis_feeds
from models.manifest import (
    GeneratorSignature,
    Manifest,
    TranslatorSignature,
    UpscalerSignature,
)
from models.store import ModelStore
from training.data.store import DatasetStore
from training.evaluation.extractor_choice import (
    ExtractorUnsuitable,
    choose_extractor,
    is_digit_data,
)

log = logging.getLogger(__name__)

EVALUATIONS_KEY = "evaluations"
MAX_REAL_IMAGES = 10_000  # an even spread of larger datasets; plenty for FID on small feature spaces
GENERATE_BATCH = 256
DIGIT_CLASSES = [str(d) for d in range(10)]


@dataclass(frozen=True)
class Evaluation:
    """What measuring a version needs: the registry holding it, the datasets, where real-image
    statistics are cached, the optional Inception file, and how ONNX Runtime runs here."""

    models: ModelStore
    datasets: DatasetStore
    real_stats_dir: Path
    inception_path: Path | None = None
    train_inception_samples: int = 0  # samples at the end of a training when Inception judges; 0: none
    ort_threads: int = 0  # 0: one per core
    ort_providers: tuple[str, ...] = ("CPUExecutionProvider",)
    extractor_device: str = "auto"  # where FID/KID/IS features are computed: auto, cpu, cuda or cuda:N


def evaluate_generator(evaluation: Evaluation, manifest: Manifest, dataset_ref: str, n_samples: int,
                       extractor_name: str = "auto", seed: int = 0, *, job_id: str | None = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Measure the version against the dataset, record the figures in its manifest, return them.
    `progress(done, total)`: images through the extractor so far, of all it will measure."""
    try:
        figures = measure(evaluation, manifest, dataset_ref, n_samples, extractor_name, seed, progress)
    finally:
        give_back_memory()
    figures["job_id"] = job_id
    record(evaluation.models, manifest, figures)
    return figures


def give_back_memory() -> None:
    """After a measurement the extractor is garbage (InceptionV3: ~100 MB of weights, and batches
    of 299 x 299 activations several times that): collect it, empty the GPU's cache, and hand the
    freed heap back to the system, which glibc otherwise keeps for the process (a worker stayed at
    1.3 GiB after one Inception evaluation). Nothing is kept between evaluations: the weights
    load again in about a second, far less than any measurement takes."""
    import ctypes
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        pass


def evaluate_new_version(evaluation: Evaluation, manifest: Manifest, n: int, job_id: str) -> dict[str, Any]:
    """For a training recipe: figures of a version it just published, on its training data.

    {} when `n` is 0 or the version is not a noise-to-image generator; {"evaluation_skipped": why}
    when no extractor suits its images or Inception would judge them and is off for trainings.
    A failure is reported beside the training's metrics instead of failing a training that did
    succeed.
    """
    signature = manifest.signature
    if not n or not isinstance(signature, GeneratorSignature):
        return {}
    try:
        record = evaluation.datasets.get(manifest.provenance.dataset)
        choice = choose_extractor("auto", channels=signature.channels, digits=is_digit_data(record.id, record.classes),
                                  inception_path=evaluation.inception_path)
    except (ExtractorUnsuitable, LookupError, OSError) as error:
        return {"evaluation_skipped": f"no extractor can measure it here: {error}"}
    if choice.name == "inception":
        n = min(n, evaluation.train_inception_samples)
        if not n:
            return {"evaluation_skipped": "Inception judges this data and GANFORGE_TRAIN_EVAL_INCEPTION_SAMPLES is 0: "
                    "measure the version with POST /evaluate"}
    try:
        return {"evaluation": evaluate_generator(evaluation, manifest, manifest.provenance.dataset, n, job_id=job_id)}
    except Exception as error:
        log.exception("evaluating %s failed", manifest.ref)
        return {"evaluation_error": f"{type(error).__name__}: {error}"}


def measure(evaluation: Evaluation, manifest: Manifest, dataset_ref: str, n_samples: int,
            extractor_name: str = "auto", seed: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    """The figures, labelled with everything they depend on; records nothing. Generators get
    FID & co., upscalers PSNR/SSIM against bicubic, translators L1/PSNR or FID against the
    identity (training/evaluation/paired.py)."""
    from training.evaluation.metrics import (
        RealStatsCache,
        build_extractor,
        quality_report,
    )

    signature = manifest.signature
    datasets = evaluation.datasets
    record = datasets.get(dataset_ref)  # UnknownDataset before any work
    if isinstance(signature, (UpscalerSignature, TranslatorSignature)):
        return _labelled(manifest, dataset_ref, seed, measure_image_to_image(evaluation, manifest, dataset_ref,
                                                                             extractor_name, seed))
    choice = choose_extractor(extractor_name, channels=signature.channels,
                              digits=is_digit_data(record.id, record.classes), inception_path=evaluation.inception_path)
    real_images = RealImages(lambda: load_real(datasets, dataset_ref, signature))
    # the digit judge frames digits as the real ones need (extractors.digit_padding); Inception needs no look
    extractor = build_extractor(choice, evaluation.extractor_device, real_images() if choice.name == "mnist" else None)
    images, labels = generate_samples(evaluation, signature, evaluation.models.onnx_path(manifest), n_samples, seed)
    cache = RealStatsCache(evaluation.real_stats_dir)
    stats_name = real_stats_name(dataset_ref, signature)
    if progress is not None:
        cached = cache.load(stats_name, extractor.name, extractor.resize_mode)
        real_count = 0 if cached is not None and cached.features is not None else len(real_images())
        passes = 1 + extractor.has_logits + (labels is not None and extractor.has_logits)  # features, IS, class acc.
        extractor.on_images = ImageCount(real_count + passes * len(images), progress)
    real = cache.get_or_compute(stats_name, extractor, real_images)
    report = quality_report(real, images, extractor, seed=seed)
    figures: dict[str, Any] = {
        "model": manifest.ref,
        "dataset": dataset_ref,
        **report,
        "image_size": signature.image_size,
        "extractor_input_size": extractor.input_size,
        "seed": seed,
    }
    if labels is not None and choice.name == "mnist" and class_names(signature) == DIGIT_CLASSES:
        figures.update(class_accuracy(extractor.logits(images), labels))
    figures["evaluated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return {key: _plain(value) for key, value in figures.items()}


def measure_image_to_image(evaluation: Evaluation, manifest: Manifest, dataset_ref: str, extractor_name: str,
                           seed: int) -> dict[str, Any]:
    from training.evaluation.paired import translator_figures, upscaler_figures

    if isinstance(manifest.signature, UpscalerSignature):
        return {"extractor": "psnr_ssim", **upscaler_figures(evaluation, manifest, dataset_ref)}
    figures = translator_figures(evaluation, manifest, dataset_ref, extractor_name, seed)
    figures.setdefault("extractor", "l1_psnr")
    return figures


def _labelled(manifest: Manifest, dataset_ref: str, seed: int, figures: dict[str, Any]) -> dict[str, Any]:
    figures = {"model": manifest.ref, "dataset": dataset_ref, **figures, "seed": seed,
               "on_training_data": dataset_ref == manifest.provenance.dataset,
               "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    return {key: _plain(value) for key, value in figures.items()}


def generate_samples(evaluation: Evaluation, signature: GeneratorSignature, onnx_path: Path, n: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """n samples as float [N, C, H, W] in [0, 1], and the labels asked for (classes spread evenly)."""
    from models.inference.sessions import open_session

    options = {"threads": evaluation.ort_threads, "providers": list(evaluation.ort_providers)}
    session = open_session(onnx_path, **options)
    # A style model's main graph is its synthesis network: z goes through the mapping graph first.
    style = signature.style
    mapping = open_session(onnx_path.with_name(style.mapping_file), **options) if style else None
    z = sample_latents(seed, n, signature.latent_dim)
    labels = np.arange(n, dtype=np.int64) % signature.num_classes if "labels" in signature.inputs else None
    labelled = labelled_code(signature.codes)
    if labelled is not None:  # an InfoGAN matched to classes: ask for each class in turn, as by labels
        drawn = np.asarray(sorted(set(labelled["draws"])), dtype=np.int64)
        labels = drawn[np.arange(n) % len(drawn)]
    codes = code_matrix(signature.codes, n, seed, labels=labels) if signature.codes else None
    batches = []
    for start in range(0, n, GENERATE_BATCH):
        rows = slice(start, start + GENERATE_BATCH)
        feeds = {"z": z[rows]}
        if "labels" in signature.inputs:
            feeds["labels"] = labels[rows]
        if codes is not None:
            feeds["codes"] = codes[rows]
        if mapping is not None:
            feeds = synthesis_feeds(signature, mapping.run(None, feeds)[0], seed=seed + start)
        batches.append(session.run([signature.output], feeds)[0])
    return signed_to_unit(np.concatenate(batches)), labels


def load_real(datasets: DatasetStore, dataset_ref: str, signature: GeneratorSignature) -> np.ndarray:
    """The dataset at the model's size and channels, in [0, 1]; an even spread of at most MAX_REAL_IMAGES."""
    images, _, _ = datasets.load_images(dataset_ref, signature.image_size, signature.channels)
    if len(images) > MAX_REAL_IMAGES:
        images = images[np.linspace(0, len(images) - 1, MAX_REAL_IMAGES).round().astype(int)]
    return signed_to_unit(images)


Progress = Callable[[int, int], None]  # (images measured so far, all it will measure)


class ImageCount:
    """Counts the images an extractor measures and tells `progress` after each batch."""

    def __init__(self, total: int, progress: Progress) -> None:
        self.total, self.done, self._progress = total, 0, progress
        progress(0, total)

    def __call__(self, images: int) -> None:
        self.done = min(self.total, self.done + images)
        self._progress(self.done, self.total)


class RealImages:
    """The real images, loaded at most once, on first call."""

    def __init__(self, load) -> None:
        self._load, self._images = load, None

    def __call__(self) -> np.ndarray:
        if self._images is None:
            self._images = self._load()
        return self._images


def real_stats_name(dataset_ref: str, signature: GeneratorSignature) -> str:
    """Cache key of the real images: the same dataset loaded at another size is other data."""
    size = signature.image_size
    return f"{dataset_ref}_{size}x{size}x{signature.channels}"


def class_names(signature: GeneratorSignature) -> list[str]:
    """The classes a generator takes labels for: its own, or those its category was matched to."""
    labelled = labelled_code(signature.codes)
    return labelled["classes"] if labelled is not None else signature.class_names


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


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, floats to 6 significant digits."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return float(f"{float(value):.6g}")
    if isinstance(value, np.integer):
        return int(value)
    return value
