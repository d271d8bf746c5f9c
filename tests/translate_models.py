"""Tiny random-weight translators for the translate tests: built, exported and registered in
seconds, so the serving tests do not depend on the bundled models' weights."""

from pathlib import Path

import torch

from models.manifest import Provenance
from models.store import ModelStore
from models.translator_export import register_translator
from training.trainers.pix2pix import TranslationResult


def tiny_result(family: str, channels_a: int, channels_b: int, seed: int = 0) -> TranslationResult:
    from models.architectures import build

    torch.manual_seed(seed)
    if family == "pix2pix":
        name, multiple = "unet_32", 32
        configs = {"a2b": {"channels_in": channels_a, "channels_out": channels_b, "ngf": 4}}
    else:
        name, multiple = "resnet_6blocks", 4
        configs = {"a2b": {"channels_in": channels_a, "channels_out": channels_b, "ngf": 4},
                   "b2a": {"channels_in": channels_b, "channels_out": channels_a, "ngf": 4}}
    generators = {}
    for direction, config in configs.items():
        generator = build(name, **config)
        if family == "pix2pix":  # running statistics of its own, as after training
            generator.train()
            with torch.no_grad():
                generator(torch.rand(4, channels_a, 32, 32) * 2 - 1)
        generators[direction] = generator.eval()
    return TranslationResult(family=family, generators=generators, architecture=name, architecture_configs=configs,
                             size_multiple=multiple, image_size=32, channels={"A": channels_a, "B": channels_b},
                             step=0, aborted=False)


def register_tiny(store_root: Path, name: str, family: str, channels_a: int, channels_b: int):
    result = tiny_result(family, channels_a, channels_b)
    provenance = Provenance(trainer=family, dataset="random", seed=0, steps=0)
    return register_translator(result, ModelStore(store_root), name, provenance, domains={"A": "a", "B": "b"})
