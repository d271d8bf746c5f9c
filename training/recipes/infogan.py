"""The recipe of the infogan family: sample grids with one column per value of the first
categorical code (the same z along a row), export with the 'codes' input, registration."""

import numpy as np
import torch

from models.inference.codes import code_matrix
from models.inference.grids import grid_png
from models.inference.latents import sample_latents
from models.manifest import Provenance
from training.evaluation import evaluate_new_version
from training.infogan_trainer import InfoGANConfig, train_infogan
from training.outcome import TrainingOutcome
from training.publish import publish_generator
from training.recipes.dcgan import load_dataset
from training.session import TrainingSession

GRID_ROWS = 6


def grid_inputs(config: InfoGANConfig) -> tuple[torch.Tensor, torch.Tensor, int]:
    """z fixed along each row, the first category stepping along the columns."""
    specs = config.code_specs()
    columns = specs[0]["size"] if specs and specs[0]["kind"] == "categorical" else 8
    z = np.repeat(sample_latents(config.seed, GRID_ROWS, config.latent_dim), columns, axis=0)
    codes = code_matrix(specs, GRID_ROWS * columns, config.seed, {})
    if specs and specs[0]["kind"] == "categorical":
        codes[:, :columns] = np.tile(np.eye(columns, dtype=np.float32), (GRID_ROWS, 1))
    return torch.from_numpy(z), torch.from_numpy(codes), columns


def recipe(run: TrainingSession) -> TrainingOutcome:
    params = run.params
    dataset = load_dataset(run.datasets, params["dataset"], params["image_size"])
    config = InfoGANConfig(**params["hyperparameters"], steps=run.steps_for(len(dataset)), seed=params["seed"],
                           checkpoint_every=params["checkpoint_every"])
    z, codes, columns = grid_inputs(config)

    def render(generator) -> bytes:
        was_training = generator.training
        with torch.no_grad():
            images = generator.eval()(z, codes).numpy()
        generator.train(was_training)
        return grid_png(images, columns)

    result, resumed_from = run.fit(lambda **callbacks: train_infogan(config, dataset, **callbacks), render)
    if (stopped := run.stopped(result)) is not None:
        return stopped
    run.final_sample(result.step, lambda: render(result.generator))
    provenance = Provenance(trainer=run.family.name, dataset=params["dataset"], seed=config.seed, steps=result.step,
                            job_id=run.job_id, hyperparameters=config.model_dump())
    manifest = publish_generator(result, run.models, params["model_name"], provenance)
    run.registered(manifest)
    evaluation = evaluate_new_version(run.evaluation, manifest, run.eval_samples, run.job_id)
    return TrainingOutcome(metrics={
        "steps": result.step, "resumed_from_step": resumed_from, "losses": result.losses, "model": manifest.ref,
        "parity_max_abs_diff": manifest.parity_max_abs_diff, "codes": result.codes, **evaluation,
    })

