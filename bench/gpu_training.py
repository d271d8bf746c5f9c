"""Issue 22's training figures: every family trained on a device in fp32 and bf16, and on the CPU.

Each family trains through its own trainer (`train_<family>(config, data..., device=...)`) on
synthetic data made in-process (uniform noise in [-1, 1] of the right shape: no dataset is
downloaded or read, and the arithmetic, so the speed, is that of real images). A run is timed
from the trainer's progress callback: the first `warmup` steps are left out (cuDNN's algorithm
search, the allocator's first blocks, lazy initialisation), then images/s = timed steps x images
per step / their wall time. On CUDA the callback synchronises first, so a step's time is its
kernels' time; the loop reads each step's losses from the device anyway, so this adds nothing.
Peak GPU memory is `torch.cuda.max_memory_allocated`, reset before each run (it includes the
dataset, which lives on the device as one tensor).

A run stops early, with the steps it did recorded, when it has done at least `warmup + min_timed`
steps and has run past its time cap (`abort_fn`), so a slow CPU never sinks the whole check. Each run
is wrapped: an error is recorded as a string and the next run goes on.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import itertools
import math
import os
import shutil
import statistics
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

GPU_WARMUP_STEPS = 5
CPU_WARMUP_STEPS = 1  # the first step builds oneDNN's primitives; the next ones repeat it


@dataclass(frozen=True)
class Scale:
    """How big the check's runs are: `full` on a GPU (64 px, family defaults), tiny for --cpu."""

    full: bool

    @property
    def image_size(self) -> int:  # dcgan, wgan_gp, stylegan2, infogan
        return 64 if self.full else 32

    @property
    def translation_size(self) -> int:  # pix2pix, CycleGAN
        return 128 if self.full else 32

    @property
    def sr_patch(self) -> int:  # low-resolution side; x4 makes 128-px crops (32 px for --cpu)
        return 32 if self.full else 8


@dataclass(frozen=True)
class FamilySpec:
    """One family as the check trains it: its trainer, its config (class path and keywords for a
    scale) and its data (positional arguments after the config)."""

    name: str
    trainer: str  # "module:function"
    config: Callable[[Scale], tuple[str, dict]]
    data: Callable[[Scale, np.random.Generator], tuple]
    side: Callable[[Scale], int]  # the training images' side, for the table

    def build(self, scale: Scale, **overrides: Any):
        path, kwargs = self.config(scale)
        return _resolve(path)(**{**kwargs, **overrides})


def _resolve(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, shape).astype(np.float32)


def _dataset(scale: Scale, rng: np.random.Generator, count: int | None = None) -> tuple:
    from training.data.datasets import Dataset

    count = count or (1024 if scale.full else 64)
    side = scale.image_size
    labels = rng.integers(0, 10, count).astype(np.int64)
    return (Dataset(f"synthetic-{side}", _noise(rng, (count, 3, side, side)), labels, [str(c) for c in range(10)]),)


def _pairs(scale: Scale, rng: np.random.Generator) -> tuple:
    count, side = (64 if scale.full else 8), scale.translation_size
    return _noise(rng, (count, 3, side, side)), _noise(rng, (count, 3, side, side))


def _photos(scale: Scale, rng: np.random.Generator) -> tuple:
    # NCHW float in [-1, 1] (an uploaded dataset's layout); crops of sr_patch * 4 are cut from them.
    count, side = (16, 256) if scale.full else (4, 48)
    return (_noise(rng, (count, 3, side, side)),)


def _dump(path: str) -> dict:
    """A family's hyperparameter defaults, as a request without overrides gets them."""
    return _resolve(path)().model_dump()


def _dcgan(scale: Scale) -> tuple[str, dict]:
    tiny = {} if scale.full else {"latent_dim": 16, "base_features": 8, "batch_size": 8}
    return "training.trainers.dcgan:DCGANConfig", {**_dump("training.families.dcgan:DCGANHyperparameters"),
                                                   "conditional": False, **tiny}


def _wgan_gp(scale: Scale) -> tuple[str, dict]:
    # The wgan-gp family's own defaults: loss wgan_gp, gp_lambda 10, layer-norm critic, 5 critic steps.
    tiny = {} if scale.full else {"latent_dim": 16, "base_features": 8, "batch_size": 8, "critic_steps": 2}
    return "training.trainers.dcgan:DCGANConfig", {**_dump("training.families.wgan_gp:WGANGPHyperparameters"),
                                                   "conditional": False, **tiny}


def _stylegan2(scale: Scale) -> tuple[str, dict]:
    # pl_weight 2 (the paper's; the family's default is 0) so the path-length double backward runs too.
    tiny = {} if scale.full else {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "base_channels": 8,
                                  "max_channels": 16, "batch_size": 8, "r1_every": 2, "pl_every": 2}
    return "training.trainers.stylegan2:StyleGAN2Config", {"pl_weight": 2.0, **tiny}


def _infogan(scale: Scale) -> tuple[str, dict]:
    tiny = {} if scale.full else {"latent_dim": 8, "base_features": 8, "batch_size": 8, "categorical_codes": [3],
                                  "continuous_codes": 1}
    return "training.trainers.infogan:InfoGANConfig", tiny


def _translation(scale: Scale) -> dict:
    tiny = {} if scale.full else {"ngf": 8, "ndf": 8, "n_layers_d": 1, "batch_size": 2}
    return {"image_size": scale.translation_size, "channels_a": 3, "channels_b": 3, **tiny}


def _pix2pix(scale: Scale) -> tuple[str, dict]:
    return "training.trainers.pix2pix:Pix2PixConfig", _translation(scale)


def _cyclegan(scale: Scale) -> tuple[str, dict]:
    # ResNet-6 at 128 px, the paper's choice for that size (the family's default of 9 blocks is for 256 px).
    extra = {} if scale.full else {"pool_size": 3}
    return "training.trainers.cyclegan:CycleGANConfig", {**_translation(scale), "generator": "resnet_6blocks", **extra}


def _sr(family_path: str, generator: str) -> Callable[[Scale], tuple[str, dict]]:
    def config(scale: Scale) -> tuple[str, dict]:
        # pretrain_fraction 0: every timed step is the GAN phase (generator, discriminator, feature
        # loss), so the device and CPU runs time the same work however many steps each does.
        tiny = {} if scale.full else {"features": 8, "blocks": 1, "batch_size": 2, "d_features": 8}
        if not scale.full and generator == "rrdbnet":
            tiny["growth"] = 4
        return "training.trainers.super_resolution:SRConfig", {
            **_dump(family_path), "generator": generator, "patch_size": scale.sr_patch, "scale": 4,
            "pretrain_fraction": 0.0, **tiny}
    return config


FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in [
    FamilySpec("dcgan", "training.trainers.dcgan:train_dcgan", _dcgan, _dataset, lambda s: s.image_size),
    FamilySpec("wgan_gp", "training.trainers.dcgan:train_dcgan", _wgan_gp, _dataset, lambda s: s.image_size),
    FamilySpec("stylegan2", "training.trainers.stylegan2:train_stylegan2", _stylegan2, _dataset, lambda s: s.image_size),
    FamilySpec("infogan", "training.trainers.infogan:train_infogan", _infogan, _dataset, lambda s: s.image_size),
    FamilySpec("pix2pix", "training.trainers.pix2pix:train_pix2pix", _pix2pix, _pairs, lambda s: s.translation_size),
    FamilySpec("cyclegan", "training.trainers.cyclegan:train_cyclegan", _cyclegan, _pairs,
               lambda s: s.translation_size),
    FamilySpec("srgan", "training.trainers.super_resolution:train_sr",
               _sr("training.families.srgan:SRHyperparameters", "msrresnet"), _photos, lambda s: s.sr_patch * 4),
    FamilySpec("esrgan", "training.trainers.super_resolution:train_sr",
               _sr("training.families.esrgan:ESRGANHyperparameters", "rrdbnet"), _photos, lambda s: s.sr_patch * 4),
]}


def error_text(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


def images_per_step(config: Any, data: tuple) -> int:
    """Images one step trains on: the batch, or the whole set when it is smaller (BatchSchedule)."""
    if type(config).__name__ == "SRConfig":  # patches are cut from any image: always the batch
        return config.batch_size
    return min(config.batch_size, len(data[0]))


def train_once(spec: FamilySpec, scale: Scale, data: tuple, *, device: str, precision: str, steps: int,
               warmup: int, cap_s: float | None, min_timed: int = 2, threads: int | None = None,
               config_overrides: dict | None = None) -> dict:
    """One timed run of a family's trainer; a dict of figures, or {"error": ...}."""
    import torch

    began = time.perf_counter()
    saved_threads = torch.get_num_threads()
    cuda = device.startswith("cuda")
    out: dict[str, Any] = {"device": device, "precision": precision, "steps_asked": steps, "warmup_steps": warmup}
    try:
        trainer = _resolve(spec.trainer)
        config = spec.build(scale, steps=steps, precision=precision, **(config_overrides or {}))
        out["batch_size"] = config.batch_size
        takes_device = "device" in inspect.signature(trainer).parameters
        kwargs: dict[str, Any] = {}
        if takes_device:
            kwargs["device"] = device
        elif cuda:
            return {**out, "error": f"{spec.trainer} takes no device= (not converted to the device yet)"}
        else:
            out["note"] = f"{spec.trainer} takes no device=: ran on its default (the CPU), precision ignored"
        if threads and not cuda:
            torch.set_num_threads(threads)
        out["torch_threads"] = torch.get_num_threads() if not cuda else None
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        stamps: list[float] = []
        last: dict[str, Any] = {}
        min_steps = warmup + min_timed
        started = time.perf_counter()

        def progress(step: int, total: int, losses: dict, rate: float) -> None:
            if cuda:
                torch.cuda.synchronize()
            stamps.append(time.perf_counter())
            last["losses"] = losses

        def abort() -> bool:
            return cap_s is not None and len(stamps) >= min_steps and time.perf_counter() - started > cap_s

        trainer(config, *data, progress_fn=progress, abort_fn=abort, **kwargs)
        wall = time.perf_counter() - started
        per_step = images_per_step(config, data)
        timed = stamps[warmup - 1:] if warmup > 0 else [started, *stamps]
        losses = last.get("losses") or {}
        out.update({
            "steps_done": len(stamps),
            "capped": len(stamps) < steps,
            "images_per_step": per_step,
            "losses": losses,
            "losses_finite": bool(losses) and all(math.isfinite(float(v)) for v in losses.values()),
            "wall_s": round(wall, 3),
        })
        if len(timed) >= 2:
            seconds = timed[-1] - timed[0]
            steps_timed = len(timed) - 1
            intervals = [b - a for a, b in itertools.pairwise(timed)]
            out.update({
                "steps_timed": steps_timed,
                "images_per_s": steps_timed * per_step / seconds,
                "ms_per_step": seconds * 1e3 / steps_timed,
                "ms_per_step_median": statistics.median(intervals) * 1e3,
                "timed_window": [timed[0], timed[-1]],  # perf_counter seconds: what a sampler's figures cover
            })
        else:
            out["error"] = f"only {len(stamps)} steps done: too few to time after {warmup} warm-up steps"
        if cuda:
            out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    except Exception as error:  # noqa: BLE001 - one family's failure is a figure of its own, not the end of the check
        out["error"] = error_text(error)
        out["traceback_tail"] = traceback.format_exc()[-1500:]
    finally:
        torch.set_num_threads(saved_threads)
        out["total_s"] = round(time.perf_counter() - began, 3)
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return out


def speedups(entry: dict) -> dict:
    def rate(key: str) -> float | None:
        run = entry.get(key) or {}
        return run.get("images_per_s") if not run.get("error") else None

    fp32, bf16, cpu = rate("fp32"), rate("bf16"), rate("cpu")
    return {
        "bf16_over_fp32": bf16 / fp32 if fp32 and bf16 else None,
        "fp32_over_cpu": fp32 / cpu if fp32 and cpu else None,
        "bf16_over_cpu": bf16 / cpu if bf16 and cpu else None,
    }


def family_data(spec: FamilySpec, scale: Scale, seed: int) -> tuple:
    return spec.data(scale, np.random.default_rng(seed))


def describe_config(spec: FamilySpec, scale: Scale) -> dict:
    try:
        path, kwargs = spec.config(scale)
        config = spec.build(scale)
        return {"class": path, "overrides": {k: v for k, v in kwargs.items() if k not in ("precision", "compile")},
                "batch_size": config.batch_size, "side_px": spec.side(scale)}
    except Exception as error:  # noqa: BLE001 - the config is described as far as it builds
        return {"error": error_text(error)}


# -- GPU utilisation -------------------------------------------------------------------------------


class UtilisationSampler:
    """GPU utilisation (percent of the sample period a kernel ran, as the driver reports it) read
    every `interval_s` in a thread: through NVML (nvidia-ml-py's `pynvml`) when importable, else
    by polling `nvidia-smi`. `stop(window)` sums up the samples taken inside the run's timed
    window (after its warm-up, before the work after its last step)."""

    def __init__(self, torch_index: int = 0, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (perf_counter, percent)
        self.source: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read = self._reader(torch_index)

    def _reader(self, torch_index: int) -> Callable[[], float] | None:
        index = _nvml_index(torch_index)
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = None
            bus_id = _pci_bus_id(torch_index)
            if bus_id:
                try:
                    handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)
                except Exception:  # noqa: BLE001, S110 - an id NVML does not know: the index instead
                    pass
            handle = handle or pynvml.nvmlDeviceGetHandleByIndex(index)
            pynvml.nvmlDeviceGetUtilizationRates(handle)  # answers, or falls back to nvidia-smi
            self.source = "nvml"
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:  # noqa: BLE001, S110 - no NVML: nvidia-smi is tried next
            pass
        smi = shutil.which("nvidia-smi")
        if smi is None:
            return None
        self.source = "nvidia-smi"

        def poll() -> float:
            answer = subprocess.run([smi, "-i", str(index), "--query-gpu=utilization.gpu",
                                     "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5,
                                    check=True)
            return float(answer.stdout.strip().splitlines()[0])
        return poll

    def start(self) -> UtilisationSampler:
        if self._read is not None:
            self._thread = threading.Thread(target=self._loop, name="gpu-utilisation", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            try:
                value = self._read()
                self.samples.append((time.perf_counter(), value))
            except Exception:  # noqa: BLE001, S110 - a missed sample is only a missed sample
                pass
            self._stop.wait(max(0.0, self.interval_s - (time.perf_counter() - began)))

    def stop(self, window: list[float] | None) -> dict:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._read is None:
            return {"skipped": "no NVML (nvidia-ml-py) and no nvidia-smi"}
        if not window:
            return {"skipped": "the run has no timed window", "samples_all": len(self.samples)}
        values = [value for at, value in self.samples if window[0] <= at <= window[1]]
        return {
            "source": self.source, "interval_s": self.interval_s, "samples": len(values),
            "window_s": round(window[1] - window[0], 3),
            "mean_pct": float(np.mean(values)) if values else None,
            "p50_pct": float(np.median(values)) if values else None,
            "min_pct": min(values) if values else None, "max_pct": max(values) if values else None,
        }


def _pci_bus_id(torch_index: int) -> str | None:
    """The device's PCI bus id as NVML names it, so CUDA_VISIBLE_DEVICES cannot mix indices up."""
    try:
        import torch

        props = torch.cuda.get_device_properties(torch_index)
        return f"{props.pci_domain_id:08X}:{props.pci_bus_id:02X}:{props.pci_device_id:02X}.0"
    except Exception:  # noqa: BLE001 - an older torch without the PCI fields: indices then
        return None


def _nvml_index(torch_index: int) -> int:
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if torch_index < len(visible) and visible[torch_index].isdigit():
        return int(visible[torch_index])
    return torch_index
