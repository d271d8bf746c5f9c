"""GPUs and memory without torch: which GPUs a process may use, and their figures.

`make run` counts the GPUs here to start a training worker per GPU (service/local/plan.py), and
workers publish their device's memory with their presence (/ready) and every GPU's utilisation
and memory they see (/metrics). Nothing here imports torch or onnxruntime: GPUs are listed with
NVML (nvidia-ml-py, the `gpu` extra) when it is installed, else `nvidia-smi -L`, else the
`/dev/nvidiaN` device files; `CUDA_VISIBLE_DEVICES` narrows the list as CUDA would.

Indexes are NVML's (PCI bus order, as nvidia-smi prints them); a process pinned by index should
run with `CUDA_DEVICE_ORDER=PCI_BUS_ID` so that CUDA counts the same way (the plan sets it).
"""

import logging
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str = ""
    name: str = ""


_SMI_LINE = re.compile(r"^GPU (\d+): (.*?)(?: \(UUID: (\S+)\))?$")


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """The GPUs of `nvidia-smi -L` output ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"); MIG lines skipped."""
    gpus = []
    for line in text.splitlines():
        match = _SMI_LINE.match(line.strip())
        if match:
            gpus.append(Gpu(int(match[1]), match[3] or "", match[2]))
    return gpus


def select_visible(physical: list[Gpu], cuda_visible: str | None) -> list[str]:
    """The ids a process may pin a child to (`CUDA_VISIBLE_DEVICES=<id>`): every GPU when
    `cuda_visible` is unset, else its entries as CUDA reads them (indexes or UUID prefixes, up
    to the first that names no GPU; "" or "-1" hides them all)."""
    if cuda_visible is None:
        return [str(gpu.index) for gpu in physical]
    chosen: list[str] = []
    for token in (t.strip() for t in cuda_visible.split(",")):
        if token.isdigit():
            if int(token) >= len(physical):
                break
        elif token.startswith(("GPU-", "MIG-")):
            if token.startswith("GPU-") and not any(gpu.uuid.startswith(token) for gpu in physical):
                break
        else:
            break  # "", "-1" or anything CUDA would stop at
        if token in chosen:
            break
        chosen.append(token)
    return chosen


class _Nvml:
    """NVML, initialised once per process on first use; None where nvidia-ml-py or a driver is missing."""

    _lock = threading.Lock()
    _module = None
    _tried = False

    @classmethod
    def get(cls):
        with cls._lock:
            if not cls._tried:
                cls._tried = True
                try:
                    import pynvml  # nvidia-ml-py, the `gpu` extra

                    pynvml.nvmlInit()
                    cls._module = pynvml
                except Exception as error:  # not installed, or no driver on this machine
                    log.debug("NVML unavailable: %s", error)
            return cls._module


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def physical_gpus() -> list[Gpu]:
    """Every GPU on this machine (CUDA_VISIBLE_DEVICES aside): NVML, else `nvidia-smi -L`, else
    the /dev/nvidiaN files (index only)."""
    nvml = _Nvml.get()
    if nvml is not None:
        try:
            gpus = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                gpus.append(Gpu(index, _text(nvml.nvmlDeviceGetUUID(handle)), _text(nvml.nvmlDeviceGetName(handle))))
            return gpus
        except Exception as error:
            log.warning("NVML could not list the GPUs: %s", error)
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            done = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
            if done.returncode == 0:
                return parse_nvidia_smi(done.stdout)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.warning("nvidia-smi -L failed: %s", error)
        return []
    nodes = sorted(int(p.name[len("nvidia"):]) for p in Path("/dev").glob("nvidia[0-9]*") if p.name[6:].isdigit())
    return [Gpu(index) for index in nodes]


def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES ids ([] on a machine without one)."""
    environ = os.environ if environ is None else environ
    cuda_visible = environ.get("CUDA_VISIBLE_DEVICES")
    if cuda_visible is not None:
        first = cuda_visible.split(",")[0].strip()
        if not first or first.startswith("-"):
            return []  # hidden on purpose: nothing to look up
    return select_visible(physical_gpus(), cuda_visible)


def gpu_figures(ids: list[str]) -> list[dict]:
    """Utilisation and memory of the GPUs named by `ids` (CUDA_VISIBLE_DEVICES entries), from NVML;
    [] where nvidia-ml-py is not installed. One dict each: index, uuid, name, utilization (0-1),
    memory_used_bytes, memory_total_bytes."""
    nvml = _Nvml.get()
    if nvml is None or not ids:
        return []
    figures = []
    try:
        listed = None
        for token in ids:
            if token.isdigit():
                handle = nvml.nvmlDeviceGetHandleByIndex(int(token))
            elif token.startswith("GPU-"):
                if listed is None:
                    listed = physical_gpus()
                match = next((g for g in listed if g.uuid.startswith(token)), None)
                if match is None:
                    continue
                handle = nvml.nvmlDeviceGetHandleByIndex(match.index)
            else:
                continue  # a MIG instance: NVML reads it through its parent, not worth it here
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                utilization = nvml.nvmlDeviceGetUtilizationRates(handle).gpu / 100
            except Exception:
                utilization = None
            figures.append({
                "index": nvml.nvmlDeviceGetIndex(handle), "uuid": _text(nvml.nvmlDeviceGetUUID(handle)),
                "name": _text(nvml.nvmlDeviceGetName(handle)), "utilization": utilization,
                "memory_used_bytes": int(memory.used), "memory_total_bytes": int(memory.total),
            })
    except Exception as error:
        log.warning("NVML could not read the GPUs: %s", error)
    return figures


def process_rss_bytes() -> int:
    """Resident memory of this process (/proc, else its peak from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def host_memory_bytes() -> int:
    """Physical memory of this machine (its cgroup limit where that is lower, as in a container)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if limit.isdigit() and 0 < int(limit) < total:
            return int(limit)
    return total
