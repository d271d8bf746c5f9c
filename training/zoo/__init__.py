"""The bundled models (models/zoo), each made from data that ships in packages: one line each.

`make zoo` runs `python -m training zoo --store models/zoo --threads 1 --examples docs`, which
makes every model of ZOO in this order, with the settings they were made with.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.manifest import Manifest
from training.zoo import digits, infogan, styles, super_resolution, translation
from training.zoo.run import ZooRun

__all__ = ["ZOO", "ZooModel", "ZooRun"]


@dataclass(frozen=True)
class ZooModel:
    name: str
    train: Callable[[ZooRun], Manifest]
    examples: Callable[[Path, Path], list[Path]] | None = None  # (store, out dir) -> PNGs written


def _translator(task: str) -> ZooModel:
    return ZooModel(
        translation.RECIPES[task]["model_name"],
        lambda run: translation.train_task(task, run),
        lambda store, out: translation.write_examples(task, store, out),
    )


ZOO: dict[str, ZooModel] = {
    model.name: model
    for model in (
        ZooModel(digits.MODEL_NAME, digits.train_mnist_cdcgan),
        ZooModel(super_resolution.MODEL_NAME, super_resolution.train_sr_x4),
        _translator("edges2digits"),
        _translator("thin2bold"),
        ZooModel(infogan.MODEL_NAME, infogan.train_mnist_infogan, infogan.write_examples),
        ZooModel(styles.STYLE_NAME, styles.train_fashion_stylegan2, styles.write_examples),
    )
}
