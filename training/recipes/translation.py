"""The recipes of the translation families: pix2pix on paired A/B images, CycleGAN on unpaired.

Both load the upload at the training size, train with the job's hyperparameters, publish
sample strips, export every direction and register the version; what differs is a
`TranslationKind`: the size multiple of its generator, whether it needs pairs, its trainer and
config, the columns of its sample strips and the figures it can measure.

The training size is the request's `image_size` rounded up to the network's multiple (the U-Net
whose innermost level is 1x1 there, or 4 for the ResNet): 28 trains a unet_32 at 32.
"""

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel

from models.inference.grids import grid_png
from models.manifest import Provenance
from models.pix2pix import UNET_LEVELS, unet_for_size
from models.translator_export import register_translator
from training.data.input_profile import input_profiles
from training.evaluation.quality_gate import apply, judge, latest_ref
from training.recipes.outcome import TrainingFailed, TrainingOutcome
from training.recipes.session import TrainingSession
from training.trainers.cyclegan import CycleGANConfig, train_cyclegan
from training.trainers.device import module_device
from training.trainers.pix2pix import Pix2PixConfig, train_pix2pix

SAMPLE_ROWS = 8
GRAY_MODES = ("1", "L", "LA", "I", "I;16")

Columns = Callable[[dict, torch.Tensor, torch.Tensor], list[torch.Tensor]]  # generators, a, b -> strip columns


@dataclass(frozen=True)
class TranslationKind:
    config: type[BaseModel]
    trainer: Callable
    size_multiple: Callable[[str, int], int]  # (hyperparameters' generator, requested size) -> multiple
    paired: bool  # A[i] and B[i] show the same scene
    columns: Columns

    def training_size(self, generator: str, requested: int) -> int:
        multiple = self.size_multiple(generator, requested)
        return multiple * math.ceil(requested / multiple)


def unet_multiple(generator: str, requested: int) -> int:
    return 2 ** UNET_LEVELS[unet_for_size(requested) if generator == "auto" else generator]


def translated(generator: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """A copy of `generator` in eval mode (the trainer's module untouched) on host `images`, run
    on the generator's device (the training device during a run); the answer on the host, fp32."""
    return copy.deepcopy(generator).eval()(images.to(module_device(generator))).float().cpu()


def input_output_target(generators: dict, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
    return [a, translated(generators["a2b"], a), b[: len(a)]]


def both_directions(generators: dict, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
    # a | G(a) | b | F(b)
    return [a, translated(generators["a2b"], a), b, translated(generators["b2a"], b)]


PIX2PIX = TranslationKind(Pix2PixConfig, train_pix2pix, unet_multiple, paired=True, columns=input_output_target)
CYCLEGAN = TranslationKind(CycleGANConfig, train_cyclegan, lambda generator, requested: 4, paired=False,
                           columns=both_directions)


def _gray(record) -> bool:
    modes = record.modes
    return bool(modes) and max(modes, key=modes.get) in GRAY_MODES


def train_translator(kind: TranslationKind, run: TrainingSession) -> TrainingOutcome:
    params = run.params
    hyper = dict(params["hyperparameters"])
    size = kind.training_size(hyper["generator"], params["image_size"])
    channels = 1 if _gray(run.datasets.get(params["dataset"])) else 3
    domain_a, domain_b = run.datasets.load_pairs(params["dataset"], size, channels)
    if kind.paired and len(domain_a) != len(domain_b):
        raise TrainingFailed("invalid_training_setup",
                             f"{len(domain_a)} A images but {len(domain_b)} B images: {run.family.name} needs pairs")
    if len(domain_a) == 0 or len(domain_b) == 0:
        raise TrainingFailed("invalid_training_setup", "a translation dataset needs images in both A and B")
    steps = run.steps_for(max(len(domain_a), len(domain_b)))
    config = kind.config(**hyper, steps=steps, seed=params["seed"], checkpoint_every=params["checkpoint_every"],
                         image_size=size, channels_a=channels, channels_b=channels)
    fixed_a = torch.from_numpy(domain_a[:SAMPLE_ROWS])
    fixed_b = torch.from_numpy(domain_b[:SAMPLE_ROWS])

    def render(generators: dict) -> bytes:
        with torch.no_grad():
            columns = kind.columns(generators, fixed_a, fixed_b)
        n = min(len(c) for c in columns)
        rows = torch.stack([c[:n] for c in columns], 1).flatten(0, 1).numpy()
        return grid_png(rows, len(columns))

    result, resumed_from = run.fit(lambda **callbacks: kind.trainer(config, domain_a, domain_b, **callbacks), render)
    if (stopped := run.stopped(result)) is not None:
        return stopped
    run.final_sample(result.step, lambda: render(result.generators))

    figures = paired_figures(result.generators["a2b"], fixed_a, fixed_b) if kind.paired else {}
    provenance = Provenance(trainer=run.family.name, dataset=params["dataset"], seed=config.seed, steps=result.step,
                            job_id=run.job_id, command=run.command, hyperparameters=config.model_dump())
    # what its inputs looked like, so /translate can say when an input is far from them
    profiles = input_profiles(domain_a, domain_b, result.generators, None, size, params["dataset"])
    manifest = register_translator(result, run.models, params["model_name"], provenance,
                                   metrics={**figures, "input_profile": profiles}, aliases=())
    gate = identity_gate(params.get("promote", "if_better"), figures, keeps=latest_ref(run.models, manifest))
    manifest = apply(run.models, manifest, gate)
    run.registered(manifest)
    return TrainingOutcome(metrics={
        "steps": result.step, "resumed_from_step": resumed_from, "losses": result.losses, "model": manifest.ref,
        "parity_max_abs_diff": manifest.parity_max_abs_diff, "image_size": size, **figures, **gate.as_metrics(),
    })


def identity_gate(promote: str, figures: dict[str, float], keeps: str | None = None):
    """A translator must do better than handing the input back: L1 to the targets of the sample pairs.
    Unpaired, nothing is measured: the version takes `latest` only when there is none (`keeps`)."""
    if "sample_l1_a2b" not in figures:
        return judge(promote, "identity", None, "unpaired data has no targets to compare with", keeps=keeps)
    ours, identity = figures["sample_l1_a2b"], figures["sample_l1_identity"]
    return judge(promote, "identity", ours < identity,
                 f"L1 to the targets {ours:.4f} vs the input's {identity:.4f} on {SAMPLE_ROWS} training pairs")


@torch.no_grad()
def paired_figures(a2b: torch.nn.Module, fixed_a: torch.Tensor, fixed_b: torch.Tensor) -> dict[str, float]:
    """L1 between the outputs and their targets on the sample rows: training data, a sanity check."""
    fake_b = a2b(fixed_a.to(module_device(a2b))).float().cpu().numpy()
    target = fixed_b.numpy()[: len(fake_b)]
    identity = fixed_a.numpy()[: len(fake_b)]
    return {"sample_l1_a2b": round(float(np.abs(fake_b - target).mean()), 5),
            "sample_l1_identity": round(float(np.abs(identity - target).mean()), 5) if identity.shape == target.shape
            else float("inf")}


def pix2pix(run: TrainingSession) -> TrainingOutcome:
    return train_translator(PIX2PIX, run)


def cyclegan(run: TrainingSession) -> TrainingOutcome:
    return train_translator(CYCLEGAN, run)
