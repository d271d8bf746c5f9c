"""The API's memory after bursts: `python -m bench.api_memory` (issue 27, item 11).

Starts an isolated stack (its own Redis, one inference worker, the API) and reads the resident
memory of the API's whole process tree (uvicorn and any process it serves with) at the start,
after each burst of varied traffic and after each idle pause. A burst mixes what a day of use
sends: one-call `/generate` PNGs and JSON jobs under `Prefer: wait` (each with a seed of its own,
so each is a job), `/jobs` listings, SSE streams opened and dropped after their first event,
Open Inference Protocol v2 infers, bad input (4xx), `Idempotency-Key` requests and `/metrics`.
Several bursts tell growth that keeps on from a one-off warm-up.

`--trace` runs the API under tracemalloc (this module's `serve-traced`, which then serves exactly
as `python -m service.api.app` does): after each idle pause the bench asks it (SIGUSR2) for the
Python heap's size and its biggest growths since it last asked, so a figure that grows is named by the
line that allocated it, and for the RSS before and after a `malloc_trim(0)`, which tells memory
the allocator merely kept (handed back by the trim) from memory still in use. tracemalloc itself
costs memory and time: compare RSS figures only between runs made the same way.

A benchmark, not a test: the figures depend on the machine and on the libraries' versions.
"""

import argparse
import asyncio
import ctypes
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from itertools import count
from pathlib import Path

import httpx
import psutil

from bench.stack import Stack

MODEL = "mnist-cdcgan"
TRACE_FILE = "api-tracemalloc.json"  # under the stack's state folder
TRACE_TOP = 15
UPSCALE_SIDE = 128  # pixels of each side of an upscale's input (its output is 4x: worker time)


# -- the API's side of --trace ----------------------------------------------------------------


def serve_traced() -> None:
    """`python -m bench.api_memory serve-traced`: the API under tracemalloc, answering SIGUSR2 by
    writing its heap figures to $GANFORGE_STATE_DIR/api-tracemalloc.json."""
    import tracemalloc

    tracemalloc.start(8)
    out = Path(os.environ["GANFORGE_STATE_DIR"]) / TRACE_FILE
    previous: list = []  # the last snapshot: each answer names what grew since the one before

    def report(*_) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        growth = snapshot.compare_to(previous.pop(), "traceback")[:TRACE_TOP] if previous else []
        previous.append(snapshot)
        before_trim = _own_rss_mib()
        _malloc_trim()
        out.write_text(json.dumps({
            "traced_mib": round(tracemalloc.get_traced_memory()[0] / 2**20, 2),
            "rss_before_trim_mib": before_trim, "rss_after_trim_mib": _own_rss_mib(),
            "top_growth": [{"kib": round(stat.size_diff / 1024, 1), "count": stat.count_diff,
                            "where": [f"{frame.filename}:{frame.lineno}" for frame in stat.traceback][-4:]}
                           for stat in growth],
        }, indent=1))

    signal.signal(signal.SIGUSR2, report)
    from service.api.app import main

    main()


def _own_rss_mib() -> float:
    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class RoomyStack(Stack):
    """The bench stack with room in Redis for the bursts' uploaded images (each is an input blob
    for the output TTL): at the default 512 MB cap the later bursts would be 507s."""

    def start_redis(self, maxmemory: str = "3gb", **options) -> str:
        return super().start_redis(maxmemory=maxmemory, **options)


class TracedStack(RoomyStack):
    """The bench stack whose API runs under `serve_traced`."""

    def start_api(self, port: int | None = None, host: str = "127.0.0.1", wait_s: float = 60) -> str:
        from service.local.redis_server import free_port

        port = port or free_port()
        command = [sys.executable, "-m", "bench.api_memory", "serve-traced"]
        child = self._spawn("api", command, {**self.env, "GANFORGE_PORT": str(port), "GANFORGE_HOST": host})
        self.api_url = f"http://127.0.0.1:{port}"
        self.wait_for_api(child, wait_s)
        return self.api_url


def ask_trace(stack: Stack) -> dict:
    """SIGUSR2 to the traced API; its answer once written."""
    path = stack.state_dir / TRACE_FILE
    path.unlink(missing_ok=True)
    os.kill(stack.children["api"].pid, signal.SIGUSR2)
    deadline = time.monotonic() + 120  # a snapshot of a large heap takes a while on a busy machine
    while time.monotonic() < deadline:
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except ValueError:  # still being written
                pass
        time.sleep(0.5)
    return {"error": "no answer to SIGUSR2"}


def noise_png(seed: int, side: int) -> bytes:
    """A picture no other request sent (noise compresses badly: a body of realistic size)."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


# -- measuring ----------------------------------------------------------------------------------


def api_rss_mib(stack: Stack) -> float:
    """Resident memory of uvicorn's process and every process under it."""
    root = psutil.Process(stack.children["api"].pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            pass
    return round(total / 2**20, 1)


class Traffic:
    """One burst's requests, `rounds` of each kind, `concurrency` in flight."""

    def __init__(self, client: httpx.AsyncClient, seeds: count, upload_side: int):
        self.client = client
        self.seeds = seeds
        self.upload_side = upload_side
        self.answers: Counter = Counter()
        self.job_ids: list[str] = []

    def note(self, kind: str, answer: httpx.Response) -> None:
        self.answers[f"{kind} {answer.status_code}"] += 1

    async def one_call_png(self) -> None:
        answer = await self.client.post("/generate", json={"model": MODEL, "n": 1, "seed": next(self.seeds)},
                                        headers={"Accept": "image/png"})
        self.note("one-call png", answer)

    async def json_wait(self) -> None:
        answer = await self.client.post("/generate", json={"model": MODEL, "n": 2, "seed": next(self.seeds)},
                                        headers={"Prefer": "wait=30"})
        self.note("json wait", answer)
        if answer.status_code in (200, 202):
            self.job_ids.append(answer.json()["id"])

    async def idempotent(self) -> None:
        key = f"bench-{next(self.seeds)}"
        body = {"model": MODEL, "n": 1, "seed": next(self.seeds)}
        for _ in range(2):  # the repeat answers the same job
            answer = await self.client.post("/generate", json=body, headers={"Idempotency-Key": key,
                                                                              "Prefer": "wait=30"})
            self.note("idempotent", answer)

    async def listing(self) -> None:
        self.note("jobs list", await self.client.get("/jobs", params={"limit": 20}))

    async def sse_dropped(self) -> None:
        """A stream of a job still to run, dropped after its first event (a client gone)."""
        answer = await self.client.post("/generate", json={"model": MODEL, "n": 1, "seed": next(self.seeds)})
        if answer.status_code not in (200, 202):
            self.note("sse submit", answer)
            return
        async with self.client.stream("GET", f"/jobs/{answer.json()['id']}/events") as stream:
            self.note("sse", stream)
            async for _ in stream.aiter_bytes():
                break  # gone after the first bytes

    async def oip_infer(self) -> None:
        z = [((next(self.seeds) * 7919 + i) % 200 - 100) / 50 for i in range(64)]
        body = {"inputs": [{"name": "z", "shape": [1, 64], "datatype": "FP32", "data": z},
                           {"name": "labels", "shape": [1], "datatype": "INT64", "data": [next(self.seeds) % 10]}]}
        self.note("oip infer", await self.client.post(f"/v2/models/{MODEL}/infer", json=body))

    async def bad_input(self) -> None:
        seed = next(self.seeds)
        for body in ({"model": MODEL, "n": 0}, {"model": f"no-such-model-{seed}", "n": 1},
                     {"model": MODEL, "seed": "x"}):
            self.note("bad input", await self.client.post("/generate", json=body))
        self.note("bad input", await self.client.post("/generate", content=b"{not json",
                                                      headers={"content-type": "application/json"}))
        self.note("bad input", await self.client.get(f"/jobs/no-such-job-{seed}"))

    async def upscale_upload(self) -> None:
        """A multipart image (decoded and checked in the API) to the upscaler."""
        files = {"image": ("in.png", noise_png(next(self.seeds), UPSCALE_SIDE), "image/png")}
        self.note("upscale", await self.client.post("/upscale", files=files, data={"model": "sr-x4"},
                                                    headers={"Prefer": "wait=60"}))

    async def translate_upload(self) -> None:
        """A large multipart image (a photo's size), decoded and checked in the API, to a translator."""
        files = {"image": ("in.png", noise_png(next(self.seeds), self.upload_side), "image/png")}
        self.note("translate", await self.client.post("/translate", files=files,
                                                      data={"model": "edges2digits-pix2pix"},
                                                      headers={"Prefer": "wait=60"}))

    async def metrics(self) -> None:
        self.note("metrics", await self.client.get("/metrics"))

    async def burst(self, rounds: int, concurrency: int) -> None:
        kinds = [self.one_call_png, self.json_wait, self.idempotent, self.listing, self.sse_dropped,
                 self.oip_infer, self.bad_input, self.one_call_png, self.upscale_upload, self.translate_upload]
        gate = asyncio.Semaphore(concurrency)

        async def guarded(call) -> None:
            async with gate:
                try:
                    await call()
                except httpx.HTTPError as error:
                    self.answers[f"{call.__name__} {type(error).__name__}"] += 1

        calls = [kind for _ in range(rounds) for kind in kinds]
        calls += [self.metrics] * max(1, rounds // 10)
        await asyncio.gather(*(guarded(call) for call in calls))


async def run_burst(stack: Stack, seeds: count, rounds: int, concurrency: int, upload_side: int) -> dict:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.auth_headers, timeout=90,
                                 limits=limits) as client:
        traffic = Traffic(client, seeds, upload_side)
        started = time.monotonic()
        await traffic.burst(rounds, concurrency)
        return {"seconds": round(time.monotonic() - started, 1), "answers": dict(sorted(traffic.answers.items()))}


def measure(args: argparse.Namespace) -> dict:
    stack_class = TracedStack if args.trace else RoomyStack
    with tempfile.TemporaryDirectory(prefix="gf-api-memory-") as state_dir, \
            stack_class(Path(state_dir), worker_concurrency=8, extra_env=dict(args.env)) as stack:
        seeds = count(10_000_000 + int(time.time()) % 1_000_000 * 100)
        time.sleep(args.settle)
        figures: dict = {"start_mib": api_rss_mib(stack), "bursts": []}
        if args.trace:
            figures["start_trace"] = ask_trace(stack)
            figures["start_after_trim_mib"] = api_rss_mib(stack)
        print(f"start: {figures['start_mib']} MiB", flush=True)
        for number in range(1, args.bursts + 1):
            burst = asyncio.run(run_burst(stack, seeds, args.rounds, args.concurrency, args.upload_side))
            burst["after_burst_mib"] = api_rss_mib(stack)
            time.sleep(args.idle)
            burst["after_idle_mib"] = api_rss_mib(stack)
            if args.trace:
                burst["trace"] = ask_trace(stack)
                burst["after_trim_mib"] = api_rss_mib(stack)
            figures["bursts"].append(burst)
            print(f"burst {number}: {burst['seconds']} s, {burst['after_burst_mib']} MiB after it, "
                  f"{burst['after_idle_mib']} MiB after {args.idle:g} s idle", flush=True)
        last = figures["bursts"][-1]["after_idle_mib"]
        figures["growth_after_idle_mib"] = round(last - figures["start_mib"], 1)
        return figures


def main() -> None:
    if sys.argv[1:2] == ["serve-traced"]:
        serve_traced()
        return
    from bench import machine

    parser = argparse.ArgumentParser(prog="python -m bench.api_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--bursts", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=150, help="of each kind of request, per burst")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--upload-side", type=int, default=1024,
                        help="pixels of each side of a translation's uploaded image")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of quiet after each burst")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between the API's start and the first figure")
    parser.add_argument("--trace", action="store_true", help="the API under tracemalloc, asked after each pause")
    parser.add_argument("--env", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="an environment variable for the stack's processes (repeatable)")
    parser.add_argument("--out", type=Path, default=None, help="a JSON file for the figures")
    args = parser.parse_args()
    result = {"machine": machine.describe(), "rounds": args.rounds, "concurrency": args.concurrency,
              "idle_s": args.idle, "upload_side": args.upload_side, "traced": args.trace, "env": dict(args.env), **measure(args)}
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
