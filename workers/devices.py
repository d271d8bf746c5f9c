"""The device a worker process runs on, as its presence record tells /ready and /metrics.

A training worker names the device its trainings run on (`GANFORGE_DEVICE` resolved as the
trainers resolve it: "cpu", or "cuda:0 NVIDIA H100 80GB HBM3"); torch is imported for that only
where a GPU is visible at all. An inference worker names its ONNX Runtime providers and the GPU
they run on, and never imports torch. Each beat of the presence thread adds the memory of that
device, used and total (the GPU's from NVML, where nvidia-ml-py is installed; on the CPU this
process's resident memory and the machine's), and the figures of every GPU the worker sees.
"""

import logging
import sys
from dataclasses import dataclass, field

from service.core.devices import (
    gpu_figures,
    host_memory_bytes,
    physical_gpus,
    process_rss_bytes,
    visible_gpus,
)
from service.core.routing import HEAVY_INFERENCE_QUEUE, INFERENCE_QUEUE, TRAINING_QUEUE
from service.core.settings import Settings

log = logging.getLogger(__name__)

NO_NVML = "GPU memory needs nvidia-ml-py (pip install '.[gpu]')"


@dataclass
class WorkerDevice:
    device: str  # "cpu", "cuda:0 NVIDIA H100 80GB HBM3", or "unusable: <why>"
    gpu: str | None = None  # the CUDA_VISIBLE_DEVICES id of the device's GPU
    cuda_index: int | None = None  # its index inside this process (cuda:N)
    providers: list[str] | None = None  # ONNX Runtime's, for a worker that serves inference
    visible: list[str] = field(default_factory=list)  # every GPU this process sees

    def about(self) -> dict:
        about = {"device": self.device}
        if self.providers is not None:
            about["providers"] = self.providers
        return about

    def figures(self) -> dict:
        """Memory of the device, used and total, and the figures of every visible GPU."""
        rss = process_rss_bytes()
        figures = {"process_rss_bytes": rss, "gpus": gpu_figures(self.visible)}
        if self.gpu is None:
            figures["memory"] = {"of": "host", "used_bytes": rss, "total_bytes": host_memory_bytes(),
                                 "note": "used: this process's resident memory; total: the machine's"}
            return figures
        mine = gpu_figures([self.gpu])
        if mine:
            figures["memory"] = {"of": "gpu", "used_bytes": mine[0]["memory_used_bytes"],
                                 "total_bytes": mine[0]["memory_total_bytes"]}
        else:
            figures["memory"] = _torch_memory(self.cuda_index) or {"of": "gpu", "used_bytes": None,
                                                                   "total_bytes": None, "note": NO_NVML}
        return figures


def _torch_memory(index: int | None) -> dict | None:
    """The GPU's memory as CUDA reports it, where this process already runs torch on it (no NVML)."""
    torch = sys.modules.get("torch")
    if torch is None or index is None or not torch.cuda.is_initialized():
        return None
    try:
        free, total = torch.cuda.mem_get_info(index)
    except Exception:
        return None
    return {"of": "gpu", "used_bytes": int(total - free), "total_bytes": int(total)}


def _gpu_name(gpu: str) -> str:
    listed = physical_gpus()
    match = next((g for g in listed if str(g.index) == gpu or (g.uuid and g.uuid.startswith(gpu))), None)
    return match.name if match and match.name else f"GPU {gpu}"


def training_device(setting: str, visible: list[str]) -> WorkerDevice:
    """`GANFORGE_DEVICE` as the trainers resolve it (training/trainers/device.py)."""
    if setting == "cpu" or (setting == "auto" and not visible):
        return WorkerDevice("cpu", visible=visible)
    try:
        # torch, only where a GPU is visible to name
        from training.trainers.device import describe_device, resolve_device

        device = resolve_device(setting)
    except ValueError as error:
        log.error("this training worker cannot use GANFORGE_DEVICE=%s: %s", setting, error)
        return WorkerDevice(f"unusable: {error}", visible=visible)
    if device.type != "cuda":
        return WorkerDevice("cpu", visible=visible)
    index = device.index or 0
    gpu = visible[index] if index < len(visible) else None
    return WorkerDevice(describe_device(device), gpu=gpu, cuda_index=index, visible=visible)


def inference_device(settings: Settings, visible: list[str]) -> WorkerDevice:
    """ONNX Runtime's providers and the GPU its CUDA provider runs on (the first visible one)."""
    # onnxruntime, never torch
    from models.inference.sessions import CUDA, choose_providers

    try:
        providers = choose_providers(settings.ort_providers)
    except RuntimeError as error:
        return WorkerDevice(f"unusable: {error}", visible=visible)
    if CUDA in providers and visible:
        return WorkerDevice(f"cuda:0 {_gpu_name(visible[0])}", gpu=visible[0], cuda_index=0, providers=providers,
                            visible=visible)
    return WorkerDevice("cpu", providers=providers, visible=visible)


def worker_device(settings: Settings, queues: list[str]) -> WorkerDevice:
    """What a worker consuming `queues` runs on: a training worker its training device, an
    inference worker its providers (a worker on both: the training device and the providers)."""
    visible = visible_gpus()
    serves_inference = bool({INFERENCE_QUEUE, HEAVY_INFERENCE_QUEUE} & set(queues))
    if TRAINING_QUEUE in queues:
        device = training_device(settings.device, visible)
        if serves_inference:
            device.providers = inference_device(settings, visible).providers
        return device
    return inference_device(settings, visible)
