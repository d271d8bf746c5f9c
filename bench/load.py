"""The load generator: a closed loop of real HTTP/1.1 clients, run in a process of its own.

`concurrency` threads each hold one keep-alive connection (the standard library's
http.client, the lightest real client there is, so the generator steals little CPU from the
service on a small machine) and send requests back to back. Requests finishing in the first
`warmup_s` are not counted; the level then runs `duration_s` (or until `requests` complete,
whichever first). Throughput counts completions inside the window; latency is end to end
(connect reuse, send, the whole answer read), per completed request in the window.

Run as `python -m bench.load '<json spec>'`; prints one JSON object.
"""

import http.client
import json
import resource
import sys
import threading
import time
from urllib.parse import urlsplit

import numpy as np


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def run(spec: dict) -> dict:
    url = urlsplit(spec["url"])
    body = json.dumps(spec["body"]).encode()
    headers = {"content-type": "application/json", **spec.get("headers", {})}
    concurrency = spec["concurrency"]
    warmup_s, duration_s = spec["warmup_s"], spec["duration_s"]
    wanted = spec.get("requests")  # optional cap on counted requests

    records: list[tuple[float, float, int, dict | None]] = []
    lock = threading.Lock()
    counted = 0
    start_gate = threading.Barrier(concurrency + 1)
    window = {}
    stop = threading.Event()

    def client() -> None:
        nonlocal counted
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=90)
        start_gate.wait()
        while not stop.is_set() and time.perf_counter() < window["end"]:
            sent = time.perf_counter()
            try:
                connection.request("POST", url.path or "/", body, headers)
                answer = connection.getresponse()
                data = answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=90)
                status, data = 0, b""
            done = time.perf_counter()
            job = None
            if status == 200 and answer.getheader("content-type", "").startswith("image/"):
                # One call per image: the picture itself; the job id is in a header (bench/lean.py
                # reads a sample of those jobs after the level, outside the counters).
                job = {"status": "succeeded", "id": answer.getheader("GANForge-Job-Id"), "outputs": [None]}
            elif status in (200, 202):
                try:
                    job = json.loads(data)
                except ValueError:
                    pass
            with lock:
                records.append((sent, done, status, _summary(job)))
                if window["start"] <= done <= window["end"]:
                    counted += 1
                    if wanted and counted >= wanted:
                        stop.set()
        connection.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    window["start"] = began + warmup_s
    window["end"] = window["start"] + duration_s
    start_gate.wait()
    for thread in threads:
        thread.join(timeout=duration_s + warmup_s + 120)
    ended = min(time.perf_counter(), window["end"]) if not stop.is_set() else max(r[1] for r in records)

    inside = [r for r in records if window["start"] <= r[1] <= window["end"]]
    elapsed = max(ended - window["start"], 1e-9)
    ok = [r for r in inside if r[2] == 200 and r[3] and r[3]["status"] == "succeeded"]
    latencies_ms = [(r[1] - r[0]) * 1e3 for r in ok]
    images = sum(r[3]["n"] for r in ok)
    batches = [r[3]["batch_images"] for r in ok if r[3]["batch_images"] is not None]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    statuses: dict[str, int] = {}
    for r in inside:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1

    def mean_of(key: str) -> float | None:
        values = [r[3][key] for r in ok if r[3].get(key) is not None]
        return float(np.mean(values)) if values else None

    return {
        "concurrency": concurrency,
        "window_s": round(elapsed, 3),
        "warmup_s": warmup_s,
        "requests_ok": len(ok),
        "requests_all": len(records),
        "statuses": statuses,
        "cached": sum(1 for r in ok if r[3]["cached"]),
        "requests_per_s": len(ok) / elapsed,
        "images_per_s": images / elapsed,
        "p50_ms": _percentile(latencies_ms, 50),
        "p95_ms": _percentile(latencies_ms, 95),
        "p99_ms": _percentile(latencies_ms, 99),
        "mean_ms": float(np.mean(latencies_ms)) if latencies_ms else None,
        "batch_images_mean": float(np.mean(batches)) if batches else None,
        "batch_images_max": max(batches) if batches else None,
        "worker_inference_ms_mean": _ms(mean_of("inference_s")),
        "worker_encode_ms_mean": _ms(mean_of("encode_s")),
        "worker_run_ms_mean": _ms(mean_of("run_s")),
        "queue_wait_ms_mean": _ms(mean_of("queued_s")),
        "loadgen_cpu_s": usage.ru_utime + usage.ru_stime,
        "job_ids_sample": [r[3]["id"] for r in ok if r[3].get("id")][:: max(1, len(ok) // 200)][:200],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def _summary(job: dict | None) -> dict | None:
    if not job:
        return None
    metrics = job.get("metrics") or {}
    queued_s = None
    if job.get("created_at") and job.get("started_at") and not job.get("cached"):
        from datetime import datetime

        queued_s = (datetime.fromisoformat(job["started_at"]) - datetime.fromisoformat(job["created_at"])).total_seconds()
    return {
        "id": job.get("id"),
        "status": job.get("status"),
        "cached": bool(job.get("cached")),
        "n": len(job.get("outputs") or []),
        "batch_images": metrics.get("batch_images"),
        "inference_s": metrics.get("inference_s"),
        "encode_s": metrics.get("encode_s"),
        "run_s": metrics.get("run_s"),
        "queued_s": queued_s,
    }


def main() -> None:
    print(json.dumps(run(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
