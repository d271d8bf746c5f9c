"""What the numbers were measured on: CPU, cores, memory, and the versions that matter."""

import os
import platform
import sys
from datetime import UTC, datetime


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # not installed, or no __version__
        return None


def describe() -> dict:
    from models.inference.sessions import (
        usable_cores,  # onnxruntime: imported here, so bench.gpu can use cpu_model without it
    )

    usable = usable_cores()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "ram_gib": _memory_gib(),
        "load_avg_at_start": [round(x, 2) for x in load] if load else None,
        "python": sys.version.split()[0],
        "onnxruntime": _version("onnxruntime"),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "pillow": _version("PIL"),
        "celery": _version("celery"),
        "uvicorn": _version("uvicorn"),
    }
