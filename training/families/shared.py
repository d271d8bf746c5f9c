"""Hyperparameters that more than one family declares, free of torch (the API validates with them).

Every family's hyperparameters start from `TrainerOptions`: how a run uses its worker's device
(precision, torch.compile), which is the same question for every trainer.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Precision = Literal["auto", "fp32", "bf16", "fp16"]

# Hyperparameters a resumed run may change: a run that ran out of memory continues with a smaller
# batch; one continued on another worker may change its arithmetic. Any other change is another run.
RESUMABLE_HYPERPARAMETERS = ("batch_size", "precision", "compile")
Norm = Literal["batch", "instance"]


class TrainerOptions(BaseModel):
    """How a run uses the device its worker owns; every family's hyperparameters include these."""

    model_config = ConfigDict(extra="forbid")

    precision: Precision = Field(
        "auto",
        description="Arithmetic of forward passes and losses: auto (bf16 on a GPU that supports it, else fp32), "
        "fp32, bf16 or fp16 (autocast; fp16 with a gradient scaler). Weights and optimiser state stay fp32.",
    )
    compile: bool = Field(
        False, description="Compile the networks with torch.compile; falls back to eager, with the reason logged, "
        "when compilation fails.",
    )


# The ops of `diffaugment`, named once: training/trainers/diffaugment.py implements each by the function of
# the same name and builds its table from this tuple.
DIFFAUGMENT_OPS = ("color", "translation", "cutout")


def diffaugment_policy(policy: str) -> str:
    """A DiffAugment policy as its canonical string; ValueError names unknown or repeated ops."""
    ops = [op.strip() for op in policy.split(",") if op.strip()]
    unknown = [op for op in ops if op not in DIFFAUGMENT_OPS]
    if unknown:
        raise ValueError(f"unknown DiffAugment op(s) {', '.join(unknown)}; known: {', '.join(DIFFAUGMENT_OPS)}")
    if len(set(ops)) != len(ops):
        raise ValueError("each DiffAugment op may appear once")
    return ",".join(ops)


class TranslationHyperparameters(TrainerOptions):
    """What pix2pix and CycleGAN requests share: optimiser, schedule and network widths."""

    batch_size: int = Field(1, ge=1, le=256, description="Images per step (the papers use 1).")
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate of generators and discriminators.")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    decay_fraction: float = Field(
        0.5, ge=0, le=1, description="Final fraction of the steps over which the learning rate decays linearly to 0."
    )
    ngf: int = Field(64, ge=1, le=256, description="Generator width at full resolution.")
    ndf: int = Field(64, ge=1, le=256, description="Discriminator width of its first layer.")
    n_layers_d: int = Field(3, ge=1, le=5, description="PatchGAN layers: 3 sees 70x70 patches, 2 34x34, 1 16x16.")
