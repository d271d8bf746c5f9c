"""The recipe of the infogan family: sample grids with one column per value of the first
categorical code (the same z along a row), export with the 'codes' input, registration."""

import numpy as np
import torch

from models.inference.codes import code_matrix
from models.inference.grids import grid_png
from models.inference.latents import sample_latents
from models.inference.pixels import signed_to_unit
from training.recipes.dcgan import load_dataset
from training.recipes.generator_outcome import publish_generator_run
from training.recipes.outcome import TrainingOutcome
from training.recipes.publish import publish_generator
from training.recipes.session import TrainingSession
from training.trainers.device import module_device
from training.trainers.infogan import InfoGANConfig, train_infogan

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
        on = module_device(generator)
        with torch.no_grad():
            images = generator.eval()(z.to(on), codes.to(on)).float().cpu().numpy()
        generator.train(was_training)
        return grid_png(images, columns)

    result, resumed_from = run.fit(lambda **callbacks: train_infogan(config, dataset, **callbacks), render)
    if (stopped := run.stopped(result)) is not None:
        return stopped
    run.final_sample(result.step, lambda: render(result.generator))
    result.codes = matched_codes(run, dataset, result)  # the category's digits, in the signature and the job
    return publish_generator_run(run, config, result, resumed_from,
                                 lambda store, name, provenance:
                                 publish_generator(result, store, name, provenance, aliases=()), codes=result.codes)



def matched_codes(run: TrainingSession, dataset, result) -> list[dict]:
    """On gray digit data, the category matched to the digits it draws, as the digit judge reads
    them (training/evaluation/code_classes.py); elsewhere the codes as trained."""
    from training.evaluation.code_classes import label_codes, matchable
    from training.evaluation.extractor_choice import ExtractorChoice, is_digit_data
    from training.evaluation.metrics import build_extractor

    record = run.datasets.get(run.params["dataset"])
    if result.channels != 1 or not is_digit_data(record.id, record.classes) or matchable(result.codes) is None:
        return result.codes
    judge = build_extractor(ExtractorChoice("mnist"), run.evaluation.extractor_device, signed_to_unit(dataset.images))
    generator = result.generator.eval()
    on = module_device(generator)

    def generate(z: np.ndarray, codes: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return generator(torch.from_numpy(z).to(on), torch.from_numpy(codes).to(on)).float().cpu().numpy()

    return label_codes(result.codes, generate, result.architecture_config["latent_dim"], judge, seed=run.params["seed"])
