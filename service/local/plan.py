"""Which worker processes `make run` starts, on which device: a pure function of the settings
and the GPUs this machine shows.

- Trainings run one per process (PyTorch's global state — RNG, autocast, compiler hooks — is not
  thread-safe): a training worker per GPU in use, each pinned with `CUDA_VISIBLE_DEVICES=<id>`
  and `GANFORGE_DEVICE=cuda:0` (the only GPU it sees), or on a machine without one a single
  training worker on the CPU; `GANFORGE_TRAINING_WORKERS=N` makes it N (on GPUs, worker i on
  GPU i modulo their count). Each takes one job at a time: one task thread and a prefetch of
  one, so a queued training waits for whichever worker is free, never behind a busy one.
- The inference worker (queue `inference`, its threads sharing ONNX Runtime sessions) and the
  heavy-inference worker (`inference-heavy`) run on the first GPU in use, or on the CPU
  (`GANFORGE_INFERENCE_DEVICE` chooses otherwise).
"""

from dataclasses import dataclass, field

from service.core.routing import HEAVY_INFERENCE_QUEUE, INFERENCE_QUEUE, TRAINING_QUEUE
from service.core.settings import Settings

# A pinned process counts GPUs as nvidia-smi and NVML do (PCI bus order), so `CUDA_VISIBLE_DEVICES=1`
# is the GPU that nvidia-smi calls 1 and service/core/devices.py reads figures of.
PCI_ORDER = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
CPU_ONLY = "CPUExecutionProvider"


@dataclass(frozen=True)
class WorkerSpec:
    """One worker process: its name (log file, Celery node `name@host`), queues, pool and the
    environment it adds to the stack's."""

    name: str
    queues: str
    concurrency: int
    env: dict[str, str] = field(default_factory=dict)
    pool: str = "threads"
    prefetch_multiplier: int | None = None  # None: Celery's default (4)


class PlanError(ValueError):
    """The settings ask for a device this machine does not have."""


def gpus_in_use(settings: Settings, detected: list[str]) -> list[str]:
    """`GANFORGE_GPUS`: auto (the detected ones), none, or an explicit comma list."""
    if settings.gpus == "auto":
        return list(detected)
    if settings.gpus == "none":
        return []
    return [g.strip() for g in settings.gpus.split(",") if g.strip()]


def _gpu_index(device: str, gpus: list[str], setting: str) -> int:
    index = int(device.partition(":")[2] or 0)
    if index >= len(gpus):
        raise PlanError(f"{setting}={device}, but {len(gpus)} GPU(s) are in use"
                        f"{' (' + ','.join(gpus) + ')' if gpus else ''}")
    return index


def _on_gpu(gpu: str) -> dict[str, str]:
    return {"CUDA_VISIBLE_DEVICES": gpu, "GANFORGE_DEVICE": "cuda:0", **PCI_ORDER}


def _on_cpu(settings: Settings) -> dict[str, str]:
    env = {"CUDA_VISIBLE_DEVICES": "", "GANFORGE_DEVICE": "cpu"}
    if settings.ort_providers == "auto":  # onnxruntime-gpu would otherwise try CUDA with no GPU to see
        env["GANFORGE_ORT_PROVIDERS"] = CPU_ONLY
    return env


def training_envs(settings: Settings, gpus: list[str]) -> list[dict[str, str]]:
    """The environment of each training worker (their count is the list's length)."""
    device = settings.device
    if device == "cpu" or (device == "auto" and not gpus):
        return [_on_cpu(settings) for _ in range(settings.training_workers or 1)]
    if not gpus:
        raise PlanError(f"GANFORGE_DEVICE={device}, but this machine shows no GPU (GANFORGE_GPUS={settings.gpus})")
    if device in ("auto", "cuda"):
        return [_on_gpu(gpus[i % len(gpus)]) for i in range(settings.training_workers or len(gpus))]
    gpu = gpus[_gpu_index(device, gpus, "GANFORGE_DEVICE")]  # cuda:N: every training worker on that GPU
    return [_on_gpu(gpu) for _ in range(settings.training_workers or 1)]


def inference_env(settings: Settings, gpus: list[str]) -> dict[str, str]:
    device = settings.inference_device
    if device == "cpu" or (device == "auto" and not gpus):
        return _on_cpu(settings)
    if not gpus:
        raise PlanError(f"GANFORGE_INFERENCE_DEVICE={device}, but this machine shows no GPU")
    return _on_gpu(gpus[0 if device == "auto" else _gpu_index(device, gpus, "GANFORGE_INFERENCE_DEVICE")])


def worker_plan(settings: Settings, detected_gpus: list[str]) -> list[WorkerSpec]:
    """Every worker process of `make run`, given the GPUs detected (service.core.devices.visible_gpus)."""
    gpus = gpus_in_use(settings, detected_gpus)
    on_inference = inference_env(settings, gpus)
    plan = [
        WorkerSpec("inference", INFERENCE_QUEUE, settings.worker_concurrency, on_inference),
        # Large translations and upscales: a few at a time, in a process of their own (README "Durability").
        WorkerSpec("inference-heavy", HEAVY_INFERENCE_QUEUE, settings.heavy_concurrency, on_inference),
    ]
    plan += [WorkerSpec(f"training-{i}", TRAINING_QUEUE, 1, env, prefetch_multiplier=1)
             for i, env in enumerate(training_envs(settings, gpus))]
    return plan


def describe_plan(plan: list[WorkerSpec]) -> str:
    """One line per worker for the log: name, queue and device."""
    lines = []
    for spec in plan:
        gpu = spec.env.get("CUDA_VISIBLE_DEVICES")
        lines.append(f"{spec.name}: queue {spec.queues}, {spec.concurrency} at a time, on "
                     f"{f'GPU {gpu}' if gpu else 'the CPU'}")
    return "; ".join(lines)
