"""What POST /train can train, by name: the trainer, the data it needs and its hyperparameters.

Free of torch: the API validates a request against this table, and only the training worker
imports the trainer it names.
"""

from dataclasses import dataclass

from pydantic import BaseModel

from training.configs import (
    CDCGANHyperparameters,
    DCGANHyperparameters,
    LSGANHyperparameters,
    WGANGPHyperparameters,
)
from training.sr_configs import ESRGANHyperparameters, SRHyperparameters
from training.translation_configs import CycleGANHyperparameters, Pix2PixHyperparameters

# Named by import path: only the training worker imports them (and torch with them).
DCGAN_JOB = "training.dcgan_job:run_training_job"
SR_JOB = "training.sr_job:run_training_job"
TRANSLATION_JOB = "training.translation_job:run_training_job"


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    task: str  # the task of the model it produces: generate, translate or upscale
    layouts: tuple[str, ...]  # dataset layouts it can train on
    hyperparameters: type[BaseModel]
    runner: str  # "module:function" that runs a training job of this family, given its TrainingRun
    conditional: bool = False


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="dcgan",
            summary="DCGAN, unconditional: non-saturating loss, Adam 2e-4 (0.5, 0.999), N(0, 0.02) init, batch-norm D.",
            task="generate",
            layouts=("images", "classes"),
            hyperparameters=DCGANHyperparameters,
            runner=DCGAN_JOB,
        ),
        Family(
            name="lsgan",
            summary="LSGAN (Mao et al. 2017), unconditional: least-squares loss with 0/1 targets, DCGAN nets and Adam 2e-4 (0.5, 0.999).",
            task="generate",
            layouts=("images", "classes"),
            hyperparameters=LSGANHyperparameters,
            runner=DCGAN_JOB,
        ),
        Family(
            name="wgan-gp",
            summary="WGAN-GP (Gulrajani et al. 2017), unconditional: layer-norm critic, gradient penalty 10, 5 critic steps per G step, Adam 1e-4 (0.0, 0.9).",
            task="generate",
            layouts=("images", "classes"),
            hyperparameters=WGANGPHyperparameters,
            runner=DCGAN_JOB,
        ),
        Family(
            name="cdcgan",
            summary="Class-conditional DCGAN: label embedding in G, projection D with hinge loss (Miyato & Koyama 2018), Adam 2e-4 (0.5, 0.999).",
            task="generate",
            layouts=("classes",),
            hyperparameters=CDCGANHyperparameters,
            conditional=True,
            runner=DCGAN_JOB,
        ),
        Family(
            name="srgan",
            summary="SRGAN/MSRResNet super-resolution x2/x4: L1 pretraining, then L1 + feature loss + relativistic "
            "GAN (ESRGAN weights 1e-2 / 1 / 5e-3); feature matching unless VGG weights are configured.",
            task="upscale",
            layouts=("images",),
            hyperparameters=SRHyperparameters,
            runner=SR_JOB,
        ),
        Family(
            name="esrgan",
            summary="ESRGAN/RRDBNet super-resolution x2/x4 (residual scaling 0.2): same two phases as srgan.",
            task="upscale",
            layouts=("images",),
            hyperparameters=ESRGANHyperparameters,
            runner=SR_JOB,
        ),
        Family(
            name="pix2pix",
            summary="pix2pix (Isola et al. 2017) on paired A/B images: U-Net G, 70x70 PatchGAN on the (input, output) "
            "pair, vanilla GAN + 100 x L1, Adam 2e-4 (0.5, 0.999), linear decay over the second half.",
            task="translate",
            layouts=("paired",),
            hyperparameters=Pix2PixHyperparameters,
            runner=TRANSLATION_JOB,
        ),
        Family(
            name="cyclegan",
            summary="CycleGAN (Zhu et al. 2017) on unpaired A/B images: two ResNet Gs (instance norm), PatchGAN Ds, "
            "LSGAN + 10 x cycle + 0.5 x identity, 50-image pool, Adam 2e-4 (0.5, 0.999), linear decay.",
            task="translate",
            layouts=("unpaired",),
            hyperparameters=CycleGANHyperparameters,
            runner=TRANSLATION_JOB,
        ),
    )
}
