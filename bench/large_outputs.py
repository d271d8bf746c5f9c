"""Large outputs leave Redis: `python -m bench.large_outputs --minutes 5` (issue 24, item 3).

Two stacks side by side in one run, each its own Redis (the default 512 MiB cap), one inference
worker and the API, with the bundled sr-x4 model: `--clients` clients upscale a 1024x1024 photo
(x4: a 4096x4096 PNG) in a loop for `--minutes`, each request with one pixel of its own so none
is a result-cache hit. Redis's `used_memory` is sampled every `--every` seconds.

- **default**: GANFORGE_LARGE_OUTPUT_BYTES at its default (256 KiB): the output PNGs and the input
  PNGs (1.3 MiB each) go to the artifact store (a local folder here), Redis keeps their records
  and expiry entries.
- **off**: the threshold past any image: every input and output PNG is a blob in Redis for the
  result cache's hour.

Prints the figures (Redis memory over time, outputs written, MB to the store, answers) as JSON and
as the markdown of bench/REPORT.md's section, and writes bench/results/large_outputs.json.
The worker consumes both inference queues at `--clients` threads. A benchmark, not a test: the rate depends on the machine (and on whoever else shares it).
"""

import argparse
import io
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import redis

from bench.machine import describe
from service.core.routing import HEAVY_INFERENCE_QUEUE, INFERENCE_QUEUE
from service.local.stack import LocalStack

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "sr-x4"
SIDE = 1024
OFF = str(1 << 40)  # past any output: everything stays in Redis, as before
CONFIGS = {"default": None, "off": OFF}


def photo(side: int = SIDE) -> np.ndarray:
    """The astronaut brought to side x side: real texture, so the PNG's size is realistic."""
    from PIL import Image

    from training.data.super_resolution import load_photo

    return np.asarray(Image.fromarray(load_photo("astronaut")).resize((side, side), Image.BICUBIC))


def png_of(pixels: np.ndarray, request: int) -> bytes:
    """The photo with one pixel of its own: a new request, never a cache hit."""
    from PIL import Image

    own = pixels.copy()
    own[request // SIDE % SIDE, request % SIDE] ^= np.uint8(0x55)
    out = io.BytesIO()
    Image.fromarray(own).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def client_loop(api_url: str, headers: dict, pixels: np.ndarray, first: int, stride: int, until: float,
                answers: Counter, seconds: list[float], lock: threading.Lock) -> None:
    request = first
    with httpx.Client(base_url=api_url, headers=headers, timeout=900) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                answer = client.post("/upscale", files={"image": ("in.png", png_of(pixels, request), "image/png")},
                                     data={"model": MODEL}, headers={"Prefer": "wait=600"})
                outcome = str(answer.status_code)
                if answer.status_code == 200 and answer.json()["status"] != "succeeded":
                    outcome = f"200 {answer.json()['status']}: {(answer.json().get('error') or {}).get('type')}"
            except httpx.HTTPError as error:
                outcome = type(error).__name__
            with lock:
                answers[outcome] += 1
                if outcome == "200":
                    seconds.append(time.monotonic() - started)
            if outcome != "200":
                time.sleep(1.0)  # a full Redis answers at once: don't spin
            request += stride


def store_bytes(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")] if folder.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def run(name: str, threshold: str | None, minutes: float, clients: int, every_s: float, pixels: np.ndarray) -> dict:
    env = {"GANFORGE_LOG_LEVEL": "WARNING", **({"GANFORGE_LARGE_OUTPUT_BYTES": threshold} if threshold else {})}
    with tempfile.TemporaryDirectory(prefix=f"bench-large-{name}-") as tmp, LocalStack(Path(tmp), env) as stack:
        stack.start_redis()
        # A 1024² input at x4 is over GANFORGE_HEAVY_PIXELS: the API routes it to the heavy queue.
        stack.start_worker(f"{INFERENCE_QUEUE},{HEAVY_INFERENCE_QUEUE}", clients, name="worker", loglevel="WARNING")
        stack.start_api()
        client = redis.Redis.from_url(stack.redis_url)
        outputs_dir = stack.state_dir / "artifacts" / "outputs"
        answers: Counter = Counter()
        seconds: list[float] = []
        lock = threading.Lock()
        started = time.monotonic()
        until = started + minutes * 60
        threads = [threading.Thread(target=client_loop, args=(stack.api_url, stack.auth_headers, pixels, i, clients,
                                                                until, answers, seconds, lock), daemon=True)
                   for i in range(clients)]
        baseline = client.info("memory")["used_memory"]
        for thread in threads:
            thread.start()
        samples = []
        while any(thread.is_alive() for thread in threads):
            files, size = store_bytes(outputs_dir)
            with lock:
                done = answers["200"]
            samples.append({"t_s": round(time.monotonic() - started, 1),
                            "used_memory_mib": round(client.info("memory")["used_memory"] / 2**20, 1),
                            "succeeded": done, "store_objects": files, "store_mib": round(size / 2**20, 1)})
            time.sleep(every_s)
        files, size = store_bytes(outputs_dir)
        memory = [s["used_memory_mib"] for s in samples]
        return {
            "config": name, "large_output_bytes": int(threshold) if threshold else 262144,
            "minutes": minutes, "clients": clients,
            "answers": dict(answers), "succeeded": answers["200"],
            "mean_request_s": round(sum(seconds) / len(seconds), 1) if seconds else None,
            "redis_used_memory_mib": {"start": round(baseline / 2**20, 1), "max": max(memory),
                                      "end": memory[-1]},
            "redis_blob_keys": sum(1 for _ in client.scan_iter(match="gf:blob:*", count=1000)),
            "store_objects": files, "store_mib": round(size / 2**20, 1),
            "input_png_mib": round(len(png_of(pixels, 0)) / 2**20, 2),  # to the store above the threshold
            "redis_mib_per_upscale": round((memory[-1] - baseline / 2**20) / answers["200"], 2) if answers["200"] else None,
            "samples": samples,
        }


def markdown(results: list[dict]) -> str:
    lines = ["| | " + " | ".join(r["config"] for r in results) + " |",
             "| --- | " + " | ".join("---" for _ in results) + " |"]
    rows = [
        ("GANFORGE_LARGE_OUTPUT_BYTES", lambda r: f"{r['large_output_bytes']:,}"),
        ("upscales succeeded (1024² → 4096² PNG)", lambda r: r["succeeded"]),
        ("mean request (s)", lambda r: r["mean_request_s"]),
        ("other answers", lambda r: ", ".join(f"{k}: {v}" for k, v in r["answers"].items() if k != "200") or "none"),
        ("Redis used_memory start → max → end (MiB)",
         lambda r: "{start} → {max} → {end}".format(**r["redis_used_memory_mib"])),
        ("Redis growth per upscale (MiB)", lambda r: r["redis_mib_per_upscale"]),
        ("its input PNG (MiB): to the store above the threshold, else a blob", lambda r: r["input_png_mib"]),
        ("blobs in Redis at the end", lambda r: r["redis_blob_keys"]),
        ("objects / MiB written to the store (inputs and outputs)",
         lambda r: f"{r['store_objects']} / {r['store_mib']}"),
    ]
    for label, value in rows:
        lines.append(f"| {label} | " + " | ".join(str(value(r)) for r in results) + " |")
    lines.append("")
    lines.append("Redis used_memory (MiB) over time, sampled:")
    lines.append("")
    for r in results:
        points = r["samples"][:: max(1, len(r["samples"]) // 12)]
        lines.append(f"- {r['config']}: " + ", ".join(f"{p['t_s']:.0f} s {p['used_memory_mib']}" for p in points))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="How long each configuration runs.")
    parser.add_argument("--clients", type=int, default=2, help="Clients upscaling at once (and worker concurrency).")
    parser.add_argument("--every", type=float, default=5.0, help="Seconds between Redis memory samples.")
    parser.add_argument("--only", choices=sorted(CONFIGS), help="Run one configuration.")
    args = parser.parse_args()
    pixels = photo()
    results = [run(name, threshold, args.minutes, args.clients, args.every, pixels)
               for name, threshold in CONFIGS.items() if args.only in (None, name)]
    report = {"machine": describe(), "results": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "large_outputs.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({**report, "results": [{k: v for k, v in r.items() if k != "samples"} for r in results]},
                     indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
