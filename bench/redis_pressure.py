"""`python -m bench.redis_pressure`: a long run at a steady request rate, watching what Redis keeps.

Against one local stack (its own Redis with `--maxmemory`, noeviction; one inference worker; the
API), an open-loop generator sends `POST /generate` (n = 1, no seed, so every request is a job with
its own output) at `--rate` per second for `--minutes`. Alongside it counts, once a second:
`/ready` answers other than 200 (flaps), Redis `used_memory` and `evicted_keys`; and every two
seconds it reads back a sample of outputs of jobs finished earlier in the run (all younger than
their advertised TTL), counting 410s. Reported: answers by status (202, 503 store-full, 429, other),
the achieved rate, 410s before TTL, /ready flaps, evicted keys, and Redis memory over the run.
Issue 11's run is 30 minutes at 250 req/s (the defaults); `--minutes 2` for a short one.

Writes bench/results/redis_pressure.json. A benchmark, not a test: numbers depend on the machine.
"""

import argparse
import asyncio
import collections
import json
import random
import tempfile
import time
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results"


class Run:
    def __init__(self) -> None:
        self.answers: collections.Counter = collections.Counter()
        self.accepted: list[tuple[float, str]] = []  # (when, job id)
        self.outputs: list[tuple[float, str]] = []  # (when it was first read, output url)
        self.reads: collections.Counter = collections.Counter()
        self.gone_before_ttl = 0
        self.ready: collections.Counter = collections.Counter()
        self.memory: list[tuple[float, int]] = []
        self.late = 0  # requests not sent on time: the generator was behind (all in flight)


async def generate(client: httpx.AsyncClient, run: Run, stop_at: float, rate: float, in_flight: int) -> None:
    gate = asyncio.Semaphore(in_flight)
    interval, tasks = 1.0 / rate, set()
    next_at = time.monotonic()

    async def one() -> None:
        try:
            answer = await client.post("/generate", json={"model": "mnist-cdcgan", "n": 1})
            kind = answer.status_code
            if kind == 503:
                kind = f"503 {answer.json().get('type', '').rsplit('/', 1)[-1]}"
            run.answers[str(kind)] += 1
            if answer.status_code == 202:
                run.accepted.append((time.monotonic(), answer.json()["id"]))
        except httpx.HTTPError as error:
            run.answers[type(error).__name__] += 1
        finally:
            gate.release()

    while (now := time.monotonic()) < stop_at:
        if now < next_at:
            await asyncio.sleep(next_at - now)
        next_at += interval
        if gate.locked():
            run.late += 1
        await gate.acquire()
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def watch(client: httpx.AsyncClient, redis_client, run: Run, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        try:
            run.ready[str((await client.get("/ready")).status_code)] += 1
        except httpx.HTTPError as error:
            run.ready[type(error).__name__] += 1
        info = await asyncio.to_thread(redis_client.info)
        run.memory.append((time.monotonic(), info["used_memory"]))
        await asyncio.sleep(1)


async def read_back(client: httpx.AsyncClient, run: Run, stop_at: float, ttl_s: float) -> None:
    """Outputs of finished jobs, read again later in the run: none may be gone before its TTL."""
    while time.monotonic() < stop_at:
        await asyncio.sleep(2)
        now = time.monotonic()
        settled = [job_id for when, job_id in run.accepted if now - when > 2]
        for job_id in random.sample(settled, min(10, len(settled))):
            job = (await client.get(f"/jobs/{job_id}")).json()
            if job.get("status") == "succeeded" and job["outputs"]:
                run.outputs.append((now, job["outputs"][0]["url"]))
        for first_read, url in random.sample(run.outputs, min(20, len(run.outputs))):
            status = (await client.get(url)).status_code
            run.reads[str(status)] += 1
            if status == 410 and now - first_read < ttl_s:
                run.gone_before_ttl += 1


async def measure(args) -> dict:
    from bench import machine
    from bench.stack import Stack

    state = Path(tempfile.mkdtemp(prefix="redis-pressure-", dir=args.out))
    stack = Stack(state, {"GANFORGE_OUTPUT_TTL_S": str(args.output_ttl_s)})
    stack.start_redis(maxmemory=args.maxmemory)
    try:
        stack.start_worker("inference", 8, name="worker", loglevel="WARNING")
        stack.start_api()
        run = Run()
        redis_client = stack.redis
        limits = httpx.Limits(max_connections=args.in_flight + 20, max_keepalive_connections=args.in_flight + 20)
        began = time.monotonic()
        stop_at = began + args.minutes * 60
        async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.auth_headers, timeout=30,
                                     limits=limits) as client:
            await asyncio.gather(generate(client, run, stop_at, args.rate, args.in_flight),
                                 watch(client, redis_client, run, stop_at),
                                 read_back(client, run, stop_at, args.output_ttl_s))
        elapsed = time.monotonic() - began
        stats = redis_client.info("stats")
        memory = [used for _, used in run.memory]
        sent = sum(run.answers.values())
        return {
            "machine": machine.describe(),
            "settings": {"minutes": args.minutes, "target_rate": args.rate, "maxmemory": args.maxmemory,
                         "output_ttl_s": args.output_ttl_s, "in_flight": args.in_flight},
            "sent": sent, "achieved_rate": round(sent / elapsed, 1),
            "accepted_rate": round(run.answers.get("202", 0) / elapsed, 1),
            "answers": dict(run.answers), "sent_late": run.late,
            "outputs_read_back": dict(run.reads), "gone_410_before_ttl": run.gone_before_ttl,
            "ready": dict(run.ready), "ready_flaps": sum(v for k, v in run.ready.items() if k != "200"),
            "evicted_keys": stats["evicted_keys"],
            "redis_used_memory_mib": {"start": round(memory[0] / 2**20, 1), "max": round(max(memory) / 2**20, 1),
                                      "end": round(memory[-1] / 2**20, 1)},
            "redis_mib_per_accepted_job": round((memory[-1] - memory[0]) / max(1, run.answers.get("202", 0)) / 2**20, 4),
        }
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_pressure", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=250, help="requests per second to send")
    parser.add_argument("--maxmemory", default="512mb", help="the Redis cap (make run's default)")
    parser.add_argument("--output-ttl-s", type=int, default=3600, help="GANFORGE_OUTPUT_TTL_S")
    parser.add_argument("--in-flight", type=int, default=256, help="most requests outstanding at once")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(measure(args))
    (args.out / "redis_pressure.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))
    print(f"wrote {args.out / 'redis_pressure.json'}")


if __name__ == "__main__":
    main()
