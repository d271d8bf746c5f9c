"""The recipe of the stylegan2 family: the data, the trainer through the session's callbacks,
sample grids, the two-graph export (mapping + synthesis), registration and an evaluation."""

import tempfile
from pathlib import Path

import torch

from models.inference.grids import grid_png
from models.inference.latents import sample_latents
from models.manifest import Provenance
from models.style_export import export_style_generator
from models.stylegan2 import StyleGAN2Generator
from training.recipes.dcgan import SAMPLE_GRID_SIZE, load_dataset
from training.recipes.generator_outcome import publish_generator_run
from training.recipes.outcome import TrainingOutcome
from training.recipes.session import TrainingSession
from training.trainers.device import module_device
from training.trainers.stylegan2 import (
    ARCHITECTURE,
    StyleGAN2Config,
    StyleTrainResult,
    train_stylegan2,
)


def recipe(run: TrainingSession) -> TrainingOutcome:
    params = run.params
    dataset = load_dataset(run.datasets, params["dataset"], params["image_size"])
    config = StyleGAN2Config(**params["hyperparameters"], steps=run.steps_for(len(dataset)), seed=params["seed"],
                             checkpoint_every=params["checkpoint_every"])
    classes = dataset.num_classes if config.conditional else 0
    z = torch.from_numpy(sample_latents(config.seed, SAMPLE_GRID_SIZE, config.latent_dim))
    labels = torch.arange(SAMPLE_GRID_SIZE) % classes if classes else None

    def render(generator: StyleGAN2Generator) -> bytes:
        on = module_device(generator)
        with torch.no_grad():
            grid_labels = labels.to(on) if labels is not None else None
            images = generator(z.to(on), grid_labels).clamp(-1, 1).float().cpu().numpy()
        per_class = 0 < classes <= 16
        return grid_png(images, classes if per_class else None, dataset.class_names if per_class else None)

    result, resumed_from = run.fit(lambda **callbacks: train_stylegan2(config, dataset, **callbacks), render)
    if (stopped := run.stopped(result)) is not None:
        return stopped
    run.final_sample(result.step, lambda: render(result.generator))
    return publish_generator_run(run, config, result, resumed_from,
                                 lambda store, name, provenance:
                                 publish_style_generator(result, store, name, provenance, aliases=()))


def publish_style_generator(result: StyleTrainResult, store, name: str, provenance: Provenance,
                            aliases: tuple[str, ...] = ("latest",)):
    """Register the synthesis graph as model.onnx with mapping.onnx beside it; nothing is
    registered when either parity check fails. A training job passes no `aliases`: its gate moves `latest`."""
    with tempfile.TemporaryDirectory() as scratch:
        signature, synthesis, mapping, worst = export_style_generator(result.generator, Path(scratch),
                                                                      class_names=result.class_names or None)
        return store.register(
            name, synthesis, task="generate", architecture=ARCHITECTURE, config=result.architecture_config,
            signature=signature, provenance=provenance, parity_max_abs_diff=worst, extra_files=(mapping,),
            aliases=aliases,
        )
