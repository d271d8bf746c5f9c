"""Opening an ONNX Runtime session: the one place that sets its options, providers and threads.

Workers (through their session cache), evaluation, parity checks, the CLIs and the benchmarks
all open sessions here, so a tuning decision is made once. Torch-free.
"""

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

CPU = ["CPUExecutionProvider"]
CUDA = "CUDAExecutionProvider"


def choose_providers(setting: str) -> list[str]:
    """'auto': CUDA when this onnxruntime build has it, else CPU; or an explicit comma list."""
    available = ort.get_available_providers()
    if setting != "auto":
        wanted = [p.strip() for p in setting.split(",") if p.strip()]
        missing = [p for p in wanted if p not in available]
        if missing:
            raise RuntimeError(f"providers {missing} not available; this build has {available}")
    else:
        wanted = [CUDA, *CPU] if CUDA in available else list(CPU)
    if CUDA in wanted:
        _load_cuda_libraries()
    return wanted


def _load_cuda_libraries() -> None:
    """onnxruntime-gpu's CUDA and cuDNN come as pip wheels (nvidia-*), not on the library path:
    load them before the first CUDA session (onnxruntime >= 1.21 knows where they are)."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        preload()


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def shared_process_threads() -> int:
    """Intra-op threads for a process that shares its cores with others (a worker beside the API
    and Redis): half the usable cores, at least one. On the 2-core bench machine that is one
    thread, which bench/REPORT.md (issue 13) measured as cheaper per request than two."""
    return max(1, usable_cores() // 2)


def session_options(threads: int = 0, *, shares_cores: bool = False) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Batches come from one thread at a time; more intra-op threads than cores only adds contention.
    options.intra_op_num_threads = threads or (shared_process_threads() if shares_cores else usable_cores())
    options.inter_op_num_threads = 1
    if shares_cores:
        # ORT's pool threads otherwise spin for work between runs, burning the cores the API,
        # Redis and the other task threads need (0.43 of a core at c=32 in issue 13's profile).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def open_session(path: Path, *, threads: int = 0, providers: list[str] | None = None,
                 shares_cores: bool = False) -> ort.InferenceSession:
    """A session on the ONNX file at `path`: `threads` intra-op threads (0: every usable core, or
    half of them when the process `shares_cores`, whose pool threads then never spin), on
    `providers` in order of preference (default: the CPU, which is what parity checks and offline
    evaluation want: the same answer on every machine)."""
    options = session_options(threads, shares_cores=shares_cores)
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or CPU)


_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64}


def input_shapes(session: ort.InferenceSession, batch: int, spatial: int) -> dict[str, tuple[list[int], type]]:
    """Every input's concrete shape and numpy dtype: `batch` on a dynamic first axis, `spatial`
    on the other dynamic axes (image sides)."""
    shapes = {}
    for spec in session.get_inputs():
        shape = [d if isinstance(d, int) else (batch if axis == 0 else spatial) for axis, d in enumerate(spec.shape)]
        shapes[spec.name] = (shape, _ORT_DTYPES.get(spec.type, np.float32))
    return shapes
