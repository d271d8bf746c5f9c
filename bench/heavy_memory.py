"""`python -m bench.heavy_memory`: eight concurrent largest-allowed upscales through the service.

The picture `make run` starts: Redis, the main worker (`inference,training`,
`GANFORGE_WORKER_CONCURRENCY` threads), the heavy worker (`inference-heavy`,
`GANFORGE_HEAVY_CONCURRENCY` threads) and the API. Eight /upscale requests of the largest input the
settings allow at x4 (sqrt(max_output_pixels) / 4 a side: 2048x2048 by default, each a different
photo so none is a cache hit) are sent at once; once the heavy worker has started the first, a
small /generate is sent with `Prefer: wait`. A thread samples each worker's RSS every 10 ms.
Reported: each worker's RSS before and its peak, when each upscale finished, and when the small
generate finished compared with them. README "Durability" documents the heavy worker's bound.

Writes bench/results/heavy_memory.json. A benchmark, not a test: numbers depend on the machine.
"""

import argparse
import io
import json
import math
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.body_caps import PeakSampler

RESULTS = Path(__file__).resolve().parent / "results"
MODEL, SCALE = "sr-x4", 4


def photos(side: int, count: int) -> list[bytes]:
    """The astronaut photo at side x side, one pixel different in each: distinct inputs, real texture."""
    from PIL import Image

    from training.data.super_resolution import load_photo

    base = np.asarray(Image.fromarray(load_photo("astronaut")).resize((side, side), Image.BICUBIC))
    out = []
    for i in range(count):
        pixels = base.copy()
        pixels[0, 0, 0] = i
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
        out.append(buffer.getvalue())
    return out


def measure(count: int, deadline_s: float) -> dict:
    from bench import machine
    from service.core.routing import (
        HEAVY_INFERENCE_QUEUE,
        INFERENCE_QUEUE,
        TRAINING_QUEUE,
    )
    from service.core.settings import load_settings
    from service.local.stack import LocalStack

    settings = load_settings()
    side = math.isqrt(settings.max_output_pixels) // SCALE
    images = photos(side, count)
    stack = LocalStack(Path(tempfile.mkdtemp(prefix="heavy-memory-", dir=RESULTS)), {"GANFORGE_LOG_LEVEL": "WARNING"})
    stack.start_redis()
    try:
        stack.start_worker(f"{INFERENCE_QUEUE},{TRAINING_QUEUE}", settings.worker_concurrency, name="main",
                           loglevel="WARNING")
        stack.start_worker(HEAVY_INFERENCE_QUEUE, settings.heavy_concurrency, name="heavy", loglevel="WARNING")
        stack.start_api()
        pids = {name: stack.children[name].pid for name in ("main", "heavy", "api")}
        before = {name: PeakSampler(pid).process.memory_info().rss for name, pid in pids.items()}
        samplers = {name: PeakSampler(pid).__enter__() for name, pid in pids.items()}
        began = time.monotonic()
        try:
            with stack.client() as client:
                def submit(data: bytes) -> dict:
                    answer = client.post("/upscale", files={"image": ("photo.png", data, "image/png")},
                                         data={"model": MODEL})
                    return {"status": answer.status_code, "id": answer.json().get("id")}

                with ThreadPoolExecutor(count) as pool:
                    submitted = list(pool.map(submit, images))
                ids = [s["id"] for s in submitted if s["status"] == 202]
                while ids and client.get(f"/jobs/{ids[0]}").json()["status"] == "queued" \
                        and time.monotonic() - began < deadline_s:
                    time.sleep(0.05)
                small_sent = time.monotonic() - began
                small = client.post("/generate", json={"model": "mnist-cdcgan", "n": 4},
                                    headers={"Prefer": "wait=120"}, timeout=150)
                small_done = time.monotonic() - began
                jobs = {}
                while len(jobs) < len(ids) and time.monotonic() - began < deadline_s:
                    for job_id in ids:
                        if job_id not in jobs:
                            job = client.get(f"/jobs/{job_id}").json()
                            if job["status"] not in ("queued", "running"):
                                jobs[job_id] = {"status": job["status"], "done_s": round(time.monotonic() - began, 1),
                                                "worker": job.get("metrics", {}).get("worker")}
                    time.sleep(0.5)
        finally:
            for sampler in samplers.values():
                sampler.__exit__()
        upscales = sorted(jobs.values(), key=lambda j: j["done_s"])
        return {
            "machine": machine.describe(),
            "settings": {"input": f"{side}x{side} RGB PNG at x{SCALE}", "input_png_mib": round(len(images[0]) / 2**20, 1),
                         "max_output_pixels": settings.max_output_pixels, "heavy_pixels": settings.heavy_pixels,
                         "heavy_concurrency": settings.heavy_concurrency,
                         "worker_concurrency": settings.worker_concurrency, "count": count},
            "submitted": [s["status"] for s in submitted],
            "rss_mib": {name: {"before": round(before[name] / 2**20, 1), "peak": round(samplers[name].peak / 2**20, 1)}
                        for name in pids},
            "upscales_finished": upscales, "upscales_unfinished_at_deadline": len(ids) - len(jobs),
            "small_generate": {"status": small.status_code, "job_status": small.json().get("status"),
                               "sent_s": round(small_sent, 1), "done_s": round(small_done, 1),
                               "before_upscales_still_running": sum(j["done_s"] > small_done for j in upscales)},
        }
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.heavy_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--deadline-s", type=float, default=900, help="stop waiting for upscales after this long")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = measure(args.count, args.deadline_s)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "heavy_memory.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    print(f"wrote {args.out / 'heavy_memory.json'}")


if __name__ == "__main__":
    main()
