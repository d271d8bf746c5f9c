"""The recipe of the super-resolution families (srgan, esrgan; the family's `options` name the
generator): loads the job's `images` dataset, trains (training/trainers/super_resolution.py), publishes sample
strips, exports, registers."""

import copy
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.inference.grids import grid_png
from models.inference.pixels import unit_to_signed
from models.manifest import Provenance
from models.upscaler_export import export_upscaler
from training.evaluation.quality_gate import apply, judge, latest_ref
from training.recipes.outcome import TrainingFailed, TrainingOutcome
from training.recipes.session import TrainingSession
from training.trainers.device import module_device
from training.trainers.super_resolution import (
    PatchSampler,
    SRConfig,
    as_unit_tensors,
    train_sr,
)

SAMPLE_PATCHES = 4


def recipe(run: TrainingSession) -> TrainingOutcome:
    """Train on the job's `images` dataset, publish sample strips, export, register: the job's result.

    Images are loaded at `image_size` (the request's square side, resized as for every family) and
    cut into patches of `patch_size * scale`, narrowed to fit; gray datasets train an RGB network
    on replicated channels, as the service upscales gray images through RGB networks anyway.
    """
    params = run.params
    hyper = dict(params["hyperparameters"])
    side = params["image_size"]
    images, _, _ = run.datasets.load_images(params["dataset"], side, 3)
    patch = min(hyper["patch_size"], side // hyper["scale"])
    if patch < 4:
        raise TrainingFailed("invalid_training_setup", f"image_size {side} is too small for x{hyper['scale']}: "
                        f"use at least {4 * hyper['scale']}")
    hyper["patch_size"] = patch
    steps = run.steps_for(len(images))
    try:
        config = SRConfig(**hyper, generator=run.family.options["generator"], steps=steps,
                          seed=params["seed"], checkpoint_every=params["checkpoint_every"])
    except ValueError as bad:  # e.g. feature_loss "vgg" without a weights file on this worker
        raise TrainingFailed("invalid_training_setup", str(bad)) from None
    fixed_lr, fixed_hr = PatchSampler(as_unit_tensors(images), patch * config.scale, config.scale,
                                      SAMPLE_PATCHES, config.seed + 1).batch(0)

    def render(generator: nn.Module) -> bytes:
        # A copy in eval mode on the generator's device (the training device during a run), read back to the host.
        with torch.no_grad():
            sr = copy.deepcopy(generator).eval()(fixed_lr.to(module_device(generator))).float().cpu().clamp(0, 1)
        bicubic = F.interpolate(fixed_lr, scale_factor=config.scale, mode="bicubic", align_corners=False).clamp(0, 1)
        rows = torch.stack([bicubic, sr, fixed_hr], 1).flatten(0, 1)  # per patch: bicubic | model | original
        return grid_png(unit_to_signed(rows.numpy()), 3)

    result, resumed_from = run.fit(lambda **callbacks: train_sr(config, images, **callbacks), render)
    if (stopped := run.stopped(result)) is not None:
        return stopped
    run.final_sample(result.step, lambda: render(result.generator))

    figures = patch_figures(result.generator, fixed_lr, fixed_hr, config.scale)
    signature = result.signature()
    provenance = Provenance(trainer=run.family.name, dataset=params["dataset"], seed=config.seed, steps=result.step,
                            job_id=run.job_id, command=run.command, hyperparameters=config.model_dump())
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = Path(scratch) / "model.onnx"
        parity = export_upscaler(result.generator, signature, onnx_path)
        manifest = run.models.register(
            params["model_name"], onnx_path, task="upscale", architecture=result.architecture,
            config=result.architecture_config, signature=signature, provenance=provenance, parity_max_abs_diff=parity,
            metrics={**figures, "feature_loss": result.feature_loss}, aliases=(),  # `latest` once it passes the gate
        )
    gate = bicubic_gate(run, manifest)
    manifest = apply(run.models, manifest, gate)
    run.registered(manifest)
    return TrainingOutcome(metrics={
        "steps": result.step, "resumed_from_step": resumed_from, "losses": result.losses, "model": manifest.ref,
        "parity_max_abs_diff": parity, "feature_loss": result.feature_loss, **figures, **gate.as_metrics(),
    })


def bicubic_gate(run: TrainingSession, manifest):
    """The exported network against bicubic on the training images shrunk by its scale
    (training/evaluation/paired.py), as served: through ONNX Runtime."""
    from training.evaluation.paired import upscaler_figures

    promote = run.params.get("promote", "if_better")
    try:
        figures = upscaler_figures(run.evaluation, manifest, run.params["dataset"])
    except Exception as error:  # noqa: BLE001 - a failed measurement is reported, not fatal
        return judge(promote, "bicubic", None, f"{type(error).__name__}: {error}",
                     keeps=latest_ref(run.models, manifest))
    detail = (f"PSNR-Y {figures['psnr_y']:.2f} dB vs bicubic {figures['bicubic_psnr_y']:.2f} dB, SSIM-Y "
              f"{figures['ssim_y']:.3f} vs {figures['bicubic_ssim_y']:.3f} on {figures['n_images']} training images")
    return judge(promote, "bicubic", figures["beats_bicubic"], detail)


@torch.no_grad()
def patch_figures(generator: nn.Module, lr: torch.Tensor, hr: torch.Tensor, scale: int) -> dict[str, float]:
    """PSNR (Y, border `scale`) of the model and of bicubic on the sample patches: training data, a sanity check."""
    from training.evaluation.metrics.fidelity import psnr

    sr = generator.eval()(lr.to(module_device(generator))).float().cpu().clamp(0, 1)
    bicubic = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)

    def mean_psnr(images: torch.Tensor) -> float:
        pairs = zip(images.permute(0, 2, 3, 1).numpy(), hr.permute(0, 2, 3, 1).numpy())
        values = [psnr(a, b, crop_border=scale, data_range=1.0) for a, b in pairs]
        return round(float(np.mean([v for v in values if math.isfinite(v)] or [float("inf")])), 3)

    return {"sample_psnr_y": mean_psnr(sr), "sample_bicubic_psnr_y": mean_psnr(bicubic)}
