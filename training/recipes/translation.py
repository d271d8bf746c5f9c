"""A POST /train job for the pix2pix and cyclegan families: workers/training.py hands its
TrainingRun here (Family.runner). Loads the paired or unpaired upload, trains with the job's
hyperparameters, publishes sample strips, exports every direction and registers the version.

The training size is the request's `image_size` rounded up to the network's multiple (the U-Net
whose innermost level is 1x1 there, or 4 for the ResNet): 28 trains a unet_32 at 32.
"""

import copy
import math

import numpy as np
import torch

SAMPLE_ROWS = 8


def _gray(record) -> bool:
    modes = record.modes
    return bool(modes) and max(modes, key=modes.get) in ("1", "L", "LA", "I", "I;16")


def training_size(family: str, generator: str, requested: int) -> int:
    from models.pix2pix import UNET_LEVELS, unet_for_size

    if family == "pix2pix":
        multiple = 2 ** UNET_LEVELS[unet_for_size(requested) if generator == "auto" else generator]
    else:
        multiple = 4
    return multiple * math.ceil(requested / multiple)


def run_training_job(run):
    from models.inference.grids import grid_png
    from models.manifest import Provenance
    from models.translator_export import register_translator
    from training.cyclegan_trainer import train_cyclegan
    from training.dataset_store import DatasetStore
    from training.pix2pix_trainer import train_pix2pix
    from training.translation_configs import CycleGANConfig, Pix2PixConfig
    from workers.job_runner import JobFailed, JobResult

    params = run.params
    family = run.family.name
    hyper = dict(params["hyperparameters"])
    size = training_size(family, hyper["generator"], params["image_size"])
    store = DatasetStore.from_settings(run.context.settings)
    channels = 1 if _gray(store.get(params["dataset"])) else 3
    domain_a, domain_b = store.load_pairs(params["dataset"], size, channels)
    if family == "pix2pix" and len(domain_a) != len(domain_b):
        raise JobFailed("invalid_training_setup", f"{len(domain_a)} A images but {len(domain_b)} B images: pix2pix needs pairs")
    if len(domain_a) == 0 or len(domain_b) == 0:
        raise JobFailed("invalid_training_setup", "a translation dataset needs images in both A and B")
    longest = max(len(domain_a), len(domain_b))
    steps = run.steps_for(longest)
    run_fields = dict(steps=steps, seed=params["seed"], checkpoint_every=params["checkpoint_every"], image_size=size,
                      channels_a=channels, channels_b=channels)
    config = (Pix2PixConfig if family == "pix2pix" else CycleGANConfig)(**hyper, **run_fields)
    trainer = train_pix2pix if family == "pix2pix" else train_cyclegan
    fixed_a = torch.from_numpy(domain_a[:SAMPLE_ROWS])
    fixed_b = torch.from_numpy(domain_b[:SAMPLE_ROWS])

    def render(generators: dict) -> bytes:
        with torch.no_grad():
            fake_b = copy.deepcopy(generators["a2b"]).eval()(fixed_a)
            columns = [fixed_a, fake_b]
            if family == "pix2pix":
                columns.append(fixed_b[: len(fixed_a)])  # input | output | target
            else:
                columns += [fixed_b, copy.deepcopy(generators["b2a"]).eval()(fixed_b)]  # a | G(a) | b | F(b)
        n = min(len(c) for c in columns)
        rows = torch.stack([c[:n] for c in columns], 1).flatten(0, 1).numpy()
        return grid_png(rows, len(columns))

    result, resumed_from = run.fit(lambda **callbacks: trainer(config, domain_a, domain_b, **callbacks), render)
    if (stopped := run.stopped(result)) is not None:
        return stopped
    run.final_sample(result.step, lambda: render(result.generators))

    with torch.no_grad():
        fake_b = result.generators["a2b"](fixed_a).numpy()
    figures = {"sample_l1_a2b": round(float(np.abs(fake_b - fixed_b.numpy()[: len(fake_b)]).mean()), 5)} if family == "pix2pix" else {}
    provenance = Provenance(trainer=family, dataset=params["dataset"], seed=config.seed, steps=result.step,
                            job_id=run.job.id, hyperparameters=config.model_dump())
    manifest = register_translator(result, run.context.models, params["model_name"], provenance, metrics=figures)
    run.registered(manifest)
    return JobResult(outputs=run.samples, metrics={
        "steps": result.step, "resumed_from_step": resumed_from, "losses": result.losses, "model": manifest.ref,
        "parity_max_abs_diff": manifest.parity_max_abs_diff, "image_size": size, **figures,
    })
