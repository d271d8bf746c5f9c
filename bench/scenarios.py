"""Service scenarios over HTTP: each load level is one run of the load generator in a process
of its own, bracketed by the stack's counters (CPU per process, Redis commands)."""

import json
import subprocess
import sys

from bench.stack import Stack, counter_delta
from service.local.stack import REPO

PREFER = {"Prefer": "wait=30"}


def load_level(stack: Stack, body: dict, *, concurrency: int, warmup_s: float, duration_s: float,
               requests: int | None = None, headers: dict | None = None) -> dict:
    spec = {
        "url": f"{stack.api_url}/generate",
        "body": body,
        "headers": {**PREFER, **stack.auth_headers, **(headers or {})},
        "concurrency": concurrency,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "requests": requests,
    }
    before = stack.counters()
    answer = subprocess.run(
        [sys.executable, "-m", "bench.load", json.dumps(spec)],
        cwd=REPO, capture_output=True, text=True, timeout=warmup_s + duration_s + 180,
    )
    after = stack.counters()
    if answer.returncode != 0:
        raise RuntimeError(f"load generator failed: {answer.stderr[-2000:]}")
    result = json.loads(answer.stdout)
    result.update(counter_delta(before, after, result["requests_all"]))
    result["loadgen_cpu_ms_per_request"] = result.pop("loadgen_cpu_s") * 1e3 / max(result["requests_all"], 1)
    return result


def warm(stack: Stack, model: str) -> None:
    """Load the model's session in the worker and the API's first-request paths, untimed."""
    load_level(stack, {"model": model, "n": 1}, concurrency=2, warmup_s=0.0, duration_s=1.0)


def generate_levels(stack: Stack, model: str, levels: list[int], *, warmup_s: float, duration_s: float) -> dict:
    """Unseeded n = 1 requests (no cache hits) at each concurrency."""
    return {
        str(c): load_level(stack, {"model": model, "n": 1}, concurrency=c, warmup_s=warmup_s, duration_s=duration_s)
        for c in levels
    }


def batch_requests(stack: Stack, model: str, n: int, levels: list[int], *, warmup_s: float, duration_s: float) -> dict:
    """Unseeded requests for n images each."""
    return {
        str(c): load_level(stack, {"model": model, "n": n}, concurrency=c, warmup_s=warmup_s, duration_s=duration_s)
        for c in levels
    }


def cache_hits(stack: Stack, model: str, *, duration_s: float) -> dict:
    """One seeded request, then the same request repeated one at a time: every repeat is a hit."""
    body = {"model": model, "n": 1, "seed": 12345, "labels": [7]}
    first = load_level(stack, body, concurrency=1, warmup_s=0.0, duration_s=0.3, requests=1)
    hits = load_level(stack, body, concurrency=1, warmup_s=0.5, duration_s=duration_s)
    hits["first_request_cached"] = first["cached"] > 0
    return hits
