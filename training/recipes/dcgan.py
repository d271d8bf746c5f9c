"""The recipe of the DCGAN-style families (dcgan, lsgan, wgan-gp, cdcgan): the data, the
trainer through the session's callbacks, sample grids, export, registration and an evaluation
of the new version on its training data."""

import copy

import numpy as np
import torch
from torch import nn

from models.inference.grids import grid_png
from models.inference.latents import sample_latents
from training.data.datasets import Dataset
from training.data.store import DatasetStore
from training.recipes.generator_outcome import publish_generator_run
from training.recipes.outcome import TrainingOutcome
from training.recipes.publish import publish_generator
from training.recipes.session import TrainingSession
from training.trainers.dcgan import DCGANConfig, train_dcgan
from training.trainers.device import module_device

SAMPLE_GRID_SIZE = 64
GRAY_MODES = ("1", "L", "LA", "I", "I;16")


def load_dataset(store: DatasetStore, ref: str, image_size: int) -> Dataset:
    modes = store.get(ref).modes
    gray = bool(modes) and max(modes, key=modes.get) in GRAY_MODES
    images, labels, class_names = store.load_images(ref, image_size, 1 if gray else 3)
    if labels is None:  # unconditional data: the trainer still wants a label per image
        labels = np.zeros(len(images), dtype=np.int64)
    return Dataset(ref, images, labels, list(class_names))


def recipe(run: TrainingSession) -> TrainingOutcome:
    params = run.params
    dataset = load_dataset(run.datasets, params["dataset"], params["image_size"])
    config = DCGANConfig(
        **params["hyperparameters"], conditional=run.family.conditional, steps=run.steps_for(len(dataset)),
        seed=params["seed"], checkpoint_every=params["checkpoint_every"],
    )
    classes = dataset.num_classes if config.conditional else 0
    z = torch.from_numpy(sample_latents(config.seed, SAMPLE_GRID_SIZE, config.latent_dim))
    labels = (torch.arange(SAMPLE_GRID_SIZE) % classes,) if classes else ()

    def render(generator: nn.Module) -> bytes:
        # A copy in train mode: batch statistics of this grid, and the trainer's modules untouched.
        on = module_device(generator)
        with torch.no_grad():
            images = copy.deepcopy(generator).train()(z.to(on), *(x.to(on) for x in labels)).float().cpu().numpy()
        per_class = 0 < classes <= 16  # one column per class (a multiple of it), named on top
        return grid_png(images, classes if per_class else None, dataset.class_names if per_class else None)

    result, resumed_from = run.fit(lambda **callbacks: train_dcgan(config, dataset, **callbacks), render)
    if (stopped := run.stopped(result)) is not None:
        return stopped
    run.final_sample(result.step, lambda: render(result.generator))
    return publish_generator_run(run, config, result, resumed_from,
                                 lambda store, name, provenance:
                                 publish_generator(result, store, name, provenance, aliases=()))
