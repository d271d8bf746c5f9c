"""`python -m bench.idle_streams`: does holding many idle connections slow anyone else down?

Against one local stack (Redis, one inference worker, the API) this opens `--streams` idle SSE
streams (`GET /jobs/{id}/events` of jobs that never finish: training jobs, and the stack has no
training worker) and `--waits` pending `POST /train` requests with `Prefer: wait=600`, holds them
with raw asyncio sockets, and measures `/health` and `POST /generate` (n = 1, answered 202) one
after another, before the connections are opened and while they are held, side by side.
Target (issue 11): p99 under 100 ms for both while they are held.

Writes bench/results/idle_streams.json. A benchmark, not a test: numbers depend on the machine.
"""

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN = {"architecture": "cdcgan", "dataset": "digits", "model_name": "idle", "image_size": 8, "steps": 10,
         "hyperparameters": {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}}


def raise_open_files_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 16
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


def percentiles(seconds: list[float]) -> dict:
    ms = sorted(s * 1e3 for s in seconds)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
            "max_ms": round(ms[-1], 2)}


def measure(api_url: str, headers: dict, samples: int) -> dict:
    """Sequential calls, timed one by one, interleaved so load drifts hit both alike."""
    times: dict[str, list[float]] = {"health": [], "generate": []}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as client:
        for _ in range(samples):
            started = time.perf_counter()
            assert client.get("/health").status_code == 200
            times["health"].append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = client.post("/generate", json={"model": "mnist-cdcgan", "n": 1})
            assert answer.status_code == 202, answer.text
            times["generate"].append(time.perf_counter() - started)
    return {name: percentiles(values) for name, values in times.items()}


async def open_held(host: str, port: int, request: bytes, read_status: bool):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    if read_status:
        status = await reader.readline()
        if b" 200 " not in status:
            writer.close()
            return status.decode(errors="replace").strip()  # counted as refused
    return reader, writer


async def hold(api_url: str, headers: dict, streams: int, waits: int, job_ids: list[str], batch: int):
    parts = urlsplit(api_url)
    auth = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    held = []
    for start in range(0, streams, batch):  # in batches: the listen backlog is finite
        requests = [(f"GET /jobs/{job_ids[i % len(job_ids)]}/events HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
                     "Accept: text/event-stream\r\n\r\n").encode() for i in range(start, min(start + batch, streams))]
        held += await asyncio.gather(*(open_held(parts.hostname, parts.port, r, True) for r in requests))
    body = json.dumps(TRAIN).encode()
    wait_request = (f"POST /train HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}Prefer: wait=600\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    pending = []
    for start in range(0, waits, batch):
        pending += await asyncio.gather(*(open_held(parts.hostname, parts.port, wait_request, False)
                                          for _ in range(start, min(start + batch, waits))))
    refused = [answer for answer in held if isinstance(answer, str)]
    return [answer for answer in held if not isinstance(answer, str)], pending, refused


def still_open(connections) -> int:
    return sum(not reader.at_eof() and not writer.is_closing() for reader, writer in connections)


async def run(args) -> dict:
    from bench import machine
    from bench.stack import Stack

    limit = raise_open_files_limit()  # inherited by the stack's processes started below
    state = Path(tempfile.mkdtemp(prefix="idle-streams-", dir=args.out))
    with Stack(state, {"GANFORGE_MAX_WAIT_S": "600"}) as stack:
        headers = stack.auth_headers
        with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as client:
            job_ids = [client.post("/train", json=TRAIN).json()["id"] for _ in range(10)]
        before = await asyncio.to_thread(measure, stack.api_url, headers, args.samples)
        opened_at = time.perf_counter()
        held, pending, refused = await hold(stack.api_url, headers, args.streams, args.waits, job_ids, args.batch)
        open_s = time.perf_counter() - opened_at
        await asyncio.sleep(2)  # let the waits reach the API's hub
        during = await asyncio.to_thread(measure, stack.api_url, headers, args.samples)
        report = {
            "machine": machine.describe(), "open_files_limit": limit,
            "streams": args.streams, "waits": args.waits, "opened_in_s": round(open_s, 1),
            "opened_per_batch": args.batch, "streams_refused": len(refused), "refusals": sorted(set(refused)),
            "before": before, "while_held": during,
            "streams_still_open": still_open(held),
            "waits_still_pending": sum(len(reader._buffer) == 0 and not reader.at_eof() for reader, _ in pending),
            "api_open_files": len(__import__("psutil").Process(stack.children["api"].pid).net_connections()),
        }
        for _, writer in held + pending:
            writer.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_streams", description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=2000, help="idle SSE streams held open")
    parser.add_argument("--waits", type=int, default=500, help="pending Prefer: wait requests held open")
    parser.add_argument("--samples", type=int, default=300, help="timed /health and POST /generate calls per phase")
    parser.add_argument("--batch", type=int, default=50, help="connections opened at once")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(run(args))
    (args.out / "idle_streams.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    print(f"wrote {args.out / 'idle_streams.json'}")


if __name__ == "__main__":
    main()
