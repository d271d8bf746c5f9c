"""`python -m bench.path_profile`: where an image's CPU goes inside GANForge, step by step.

bench.peers says how much CPU an image costs each process; this says on what. One GANForge stack
as bench.peers starts it (bench-dcgan64, one inference worker, the API, Redis), one call per image
with a fresh seed per request (bench/peers_load.py), and during each load level py-spy samples the
API and the worker (`record --format raw --nonblocking`: the processes are never paused, and
only threads running on a CPU are sampled, so a sample is CPU time). Each sample is charged to
a step, and the step's share of the process's samples times the process's CPU per image (from
/proc, around the same level) gives milliseconds per image:

- the step is the innermost frame of our own code (service/, workers/, models/) — the function
  whose work, with the library calls under it, the sample belongs to — or, for a sample with none
  of our frames, the library running (uvicorn's HTTP parser, Celery's consumer loop, asyncio);
- the library view charges each sample to the package of its innermost frame instead (ONNX
  Runtime, redis-py, kombu, Starlette, the PNG encoder's zlib, ...).

Sampling at `--rate` Hz for the level's length gives a few thousand samples per process: shares
are good to about a percent. py-spy itself costs the sampled process little (it reads its memory
from outside), but it takes CPU of its own on this 2-core machine: compare shares, not the
absolute speed, with bench.peers' figures. Writes bench/results/path-profile-<date>.json and .md.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import heavy, machine
from bench.peers import RESULTS, GanForge, level
from service.core.settings import load_settings

OUR_PACKAGES = ("service/", "workers/", "models/", "training/")
# Library of the innermost frame -> the name a reader knows it by.
LIBRARIES = {
    "onnxruntime": "ONNX Runtime", "redis": "redis-py", "hiredis": "redis-py", "kombu": "kombu (Celery's messaging)",
    "celery": "Celery", "billiard": "Celery", "vine": "Celery", "uvicorn": "uvicorn (HTTP server)",
    "httptools": "uvicorn (HTTP server)", "h11": "uvicorn (HTTP server)", "starlette": "Starlette",
    "fastapi": "FastAPI", "pydantic": "pydantic", "pydantic_core": "pydantic", "anyio": "anyio",
    "numpy": "numpy", "PIL": "Pillow", "zlib": "zlib (PNG)", "json": "json", "asyncio": "asyncio / uvloop",
    "uvloop": "asyncio / uvloop", "threading": "threads, queues, sockets", "queue": "threads, queues, sockets",
    "socket": "threads, queues, sockets", "selectors": "threads, queues, sockets", "ssl": "threads, queues, sockets",
    "concurrent": "threads, queues, sockets", "logging": "logging", "prometheus_client": "prometheus_client",
    "limits": "limits (rate limiting)", "sse_starlette": "Starlette",
}


# Innermost frames where a thread sleeps in a system call (a condition, a queue, a poll, a blocking
# socket read): py-spy's idle detection misses some of them, so they are dropped here by name.
WAITING = {
    ("Condition.wait", "threading.py"), ("_worker", "concurrent/futures/thread.py"), ("Queue.get", "queue.py"),
    ("_epoll.poll", "kombu/utils/eventio.py"), ("_HiredisParser.read_from_socket", "redis/_parsers/hiredis.py"),
    ("EpollSelector.select", "selectors.py"), ("Event.wait", "threading.py"), ("Thread.join", "threading.py"),
}


def frame_file(frame: str) -> str:
    """'function (path/to/file.py:123)' -> 'path/to/file.py' (py-spy's raw frames)."""
    inside = frame[frame.rfind("(") + 1:frame.rfind(")")] if "(" in frame else frame
    return inside.rsplit(":", 1)[0]


def frame_function(frame: str) -> str:
    return frame.split(" (", 1)[0]


def our_module(path: str) -> str | None:
    """'service/api/jobs/submit.py' (py-spy names files by their import path) -> itself; None outside our code."""
    return path if path.startswith(OUR_PACKAGES) else None


def library(path: str) -> str:
    """'uvicorn/protocols/http/httptools_impl.py' -> 'uvicorn (HTTP server)'; 'threading.py' -> threads."""
    package = path.split("/", 1)[0].removesuffix(".py")
    return LIBRARIES.get(package, package or "?")


def passes_through(function: str) -> bool:
    """Our frames that only hand a request on (the app's entry, ASGI middleware and the send/receive
    callables they wrap): what runs under them is the framework's, not theirs."""
    return function in ("main", "<module>", "serve") or function.endswith("__call__") or \
        re.search(r"<locals>\.\w*(send|receive)\w*$", function) is not None


def charge(stacks: Counter) -> tuple[Counter, Counter]:
    """(samples by step, samples by library) from py-spy's collapsed stacks (root first)."""
    steps, libraries = Counter(), Counter()
    for stack, samples in stacks.items():
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames or (frame_function(frames[-1]), frame_file(frames[-1])) in WAITING:
            continue
        ours = [(our_module(frame_file(f)), frame_function(f)) for f in frames]
        leaf = len(ours) - 1
        inner = next(((module, function) for i, (module, function) in reversed(list(enumerate(ours)))
                      if module and (i == leaf or not passes_through(function))), None)
        steps[f"{inner[0]}: {inner[1]}" if inner else f"(no frame of ours) {library(frame_file(frames[-1]))}"] += samples
        libraries[library(frame_file(frames[-1])) if our_module(frame_file(frames[-1])) is None
                  else f"ours: {our_module(frame_file(frames[-1]))}"] += samples
    return steps, libraries


def read_raw(path: Path) -> Counter:
    stacks = Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if count.isdigit():
                stacks[stack] += int(count)
    return stacks


def breakdown(samples: Counter, cpu_ms_per_image: float, top: int) -> list[dict]:
    """The `top` biggest entries with their share and ms per image, then the rest in one row."""
    total = sum(samples.values()) or 1
    rows = [{"name": name, "samples": n, "share": n / total, "ms_per_image": cpu_ms_per_image * n / total}
            for name, n in samples.most_common(top)]
    rest = total - sum(r["samples"] for r in rows)
    if rest:
        rows.append({"name": "everything else", "samples": rest, "share": rest / total,
                     "ms_per_image": cpu_ms_per_image * rest / total})
    return rows


def batch_counts(peer: GanForge) -> tuple[float, float]:
    """(images, ONNX Runtime runs) so far, from the service's ganforge_batch_size histogram."""
    text = httpx.get(f"{peer.stack.api_url}/metrics", headers=peer.stack.auth_headers, timeout=10).text
    total = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for part in total:
            if line.startswith(f"ganforge_batch_size_{part}{{") and heavy.NAME in line:
                total[part] += float(line.rsplit(" ", 1)[1])
    return total["sum"], total["count"]


def profiled_level(peer: GanForge, concurrency: int, timing: dict, rate: int, scratch: Path, pause: bool) -> dict:
    """One load level with py-spy on the API and on the worker for its whole length."""
    length = timing["warmup_s"] + timing["duration_s"]
    pids = {"api": peer.stack.children["api"].pid, "worker": peer.stack.children["worker"].pid}
    outputs = {name: scratch / f"{name}-c{concurrency}.txt" for name in pids}
    spies = [subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record",
                               "--pid", str(pid), "--rate", str(rate), "--duration", str(round(length + 0.5)),
                               "--format", "raw", *(() if pause else ("--nonblocking",)), "--output", str(outputs[name])],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name, pid in pids.items()]
    time.sleep(0.3)  # py-spy attaching
    images_before, runs_before = batch_counts(peer)
    result = level(peer, concurrency, timing)
    images_after, runs_after = batch_counts(peer)
    for spy in spies:
        spy.wait(timeout=length + 60)
    out = {"concurrency": concurrency, "requests_per_s": result["requests_per_s"], "p50_ms": result["p50_ms"],
           "cpu_ms_per_image": result["cpu_ms_per_image"], "errors": result["errors"], "processes": {},
           # The batch an image ran in, on average: ONNX Runtime's cost per image falls as it grows.
           "mean_batch": (images_after - images_before) / max(runs_after - runs_before, 1)}
    for name in pids:
        steps, libraries = charge(read_raw(outputs[name]))
        cpu = result["cpu_ms_per_image"][name]
        samples = sum(steps.values())
        # Sampled thread-seconds against the CPU seconds /proc counted: above 1 where threads were
        # runnable but waiting for a core (this machine has two), so shares are of time on or
        # waiting for a CPU, not of CPU alone.
        cpu_s = cpu * result["requests_all"] / 1e3
        out["processes"][name] = {"cpu_ms_per_image": cpu, "samples": samples,
                                  "sampled_s_per_cpu_s": samples / rate / cpu_s if cpu_s else None,
                                  "steps": breakdown(steps, cpu, 14), "libraries": breakdown(libraries, cpu, 10)}
    return out


def markdown(results: dict) -> str:
    lines = [f"# bench.path_profile — {results['when']}", "", f"Machine: {results['machine'].get('cpu_model', '?')}, "
             f"load average at start {results['load_average_start']}. Model {heavy.NAME}, one call per image, a fresh "
             "seed per request; py-spy at "
             f"{results['rate_hz']} Hz on the API and the worker.", ""]
    for entry in results["levels"]:
        cpu = entry["cpu_ms_per_image"]
        lines += [f"## c={entry['concurrency']}: {entry['requests_per_s']:.1f} req/s, p50 {entry['p50_ms']:.2f} ms, "
                  f"CPU per image API {cpu['api']:.2f} / worker {cpu['worker']:.2f} / Redis {cpu['redis']:.2f} ms, "
                  f"mean batch {entry['mean_batch']:.1f} images, errors {entry['errors']}", ""]
        for name, process in entry["processes"].items():
            for view in ("steps", "libraries"):
                lines += [f"{name}, by {'our innermost function' if view == 'steps' else 'library of the running frame'} "
                          f"({process['samples']} samples, {process['sampled_s_per_cpu_s']:.2f} sampled s per CPU s):", "", "| | share | ms per image |", "|---|---|---|"]
                lines += [f"| {row['name']} | {100 * row['share']:.1f}% | {row['ms_per_image']:.2f} |"
                          for row in process[view]]
                lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.path_profile", description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="1,32")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--pause", action="store_true",
                        help="let py-spy pause the processes for each sample (exact stacks, slower service)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out = args.out.resolve()
    with open("/proc/loadavg") as handle:
        load_average = " / ".join(handle.read().split()[:3])
    results = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine.describe(),
               "load_average_start": load_average, "rate_hz": args.rate, "levels": []}
    model = heavy.HeavyModel()
    state = args.out / "path-profile"
    shutil.rmtree(state, ignore_errors=True)
    try:
        with GanForge(state / "stack", model, load_settings()) as peer:
            level(peer, 8, {"warmup_s": 0.0, "duration_s": 2.0})  # loads the session, warms the API
            for concurrency in (int(c) for c in args.levels.split(",")):
                print(f"[path_profile] c={concurrency}", flush=True)
                results["levels"].append(profiled_level(
                    peer, concurrency, {"warmup_s": args.warmup, "duration_s": args.duration}, args.rate, state, args.pause))
    finally:
        model.close()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    (args.out / f"path-profile-{stamp}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / f"path-profile-{stamp}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
