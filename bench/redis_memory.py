"""Redis memory per job: `python -m bench.redis_memory` (issue 24, item 3).

Starts an isolated stack (its own Redis with the default cap, one inference worker, the API) and
sends N small one-call `/generate` requests (`Accept: image/png`, n = 1, each with a seed of its
own: a seeded miss, so each one is a job, its output blob and its result-cache entry). Around them
it reads Redis's `used_memory` and key count, and per kind of key (record, event stream, queued
task, output blob, cache entry, the owner's job index) how many there are and their `MEMORY USAGE`
(a sample), so the figures say where a job's bytes go.

Then it projects a steady load (default 30 minutes at 300 req/s) onto the default cap: what a job
keeps for the job TTL (its record, its index entry, whatever else outlives its answer) grows with
every request; what expires sooner (its output and cache entry, after `GANFORGE_ONE_CALL_TTL_S`)
levels off at rate x TTL. A finished record is packed a minute after its end (GANFORGE_RECORD_PACK_AFTER_S,
service/core/job_store/compaction.py): the stack here packs after 45 s (the requests are sent
within it), and Redis is read twice, as the jobs left it and once every record is packed; what packing takes off a job lives only for
the minute before it (the projection counts it so). `--listpack-value N` sets Redis's `hash-max-listpack-value` first (64 by
default): a record whose every field fits is stored as one listpack, about half the bytes of a
hash table (a record's params, outputs and metrics are over 64 bytes each). A benchmark, not a test: the figures depend on the Redis version and
the request (a bigger picture, a bigger blob).
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import redis

from bench.stack import Stack
from service.core import keys
from service.core.settings import Settings

MODEL = "mnist-cdcgan"
ONE_CALL = {"Accept": "image/png"}
SAMPLE = 200  # keys of each kind whose MEMORY USAGE is read
CAP_BYTES = 512 * 2**20  # service/local/redis_server.py's default --maxmemory


def kind_of(key: str) -> str:
    """The kind of a job-store key (service/core/keys.py), or `other`."""
    prefix = keys.PREFIX + ":"
    if key.startswith(prefix + "job:"):
        return {"events": "event stream", "task": "queued task"}.get(key.rsplit(":", 1)[-1], "record")
    for part, kind in (("blob:", "output blob"), ("cache:", "cache entry"), ("jobs:", "job index")):
        if key.startswith(prefix + part):
            return kind
    return "other"


def census(client: redis.Redis) -> dict:
    """used_memory, the key count, and per kind of key: count, sampled mean MEMORY USAGE, TTL."""
    by_kind: dict[str, list[str]] = {}
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        by_kind.setdefault(kind_of(key), []).append(key)
    kinds = {}
    for kind, names in sorted(by_kind.items()):
        sample = names[:SAMPLE]
        pipe = client.pipeline(transaction=False)
        for name in sample:
            pipe.memory_usage(name, samples=0)
            pipe.ttl(name)
        answers = pipe.execute()
        sizes, ttls = answers[::2], [t for t in answers[1::2] if t is not None and t >= 0]
        members = None
        if kind == "job index":
            members = sum(client.zcard(name) for name in names)
        kinds[kind] = {"keys": len(names), "mean_bytes": round(sum(s or 0 for s in sizes) / len(sizes)),
                       "max_ttl_s": max(ttls) if ttls else None, **({"members": members} if members else {})}
    memory = client.info("memory")
    return {"used_memory": memory["used_memory"], "keys": client.dbsize(), "kinds": kinds}


async def send(api_url: str, headers: dict, seeds: list[int], concurrency: int) -> Counter:
    """One one-call /generate per seed, `concurrency` at a time; answers the status codes."""
    answers: Counter = Counter()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=60) as client:
        async def one(seed: int) -> None:
            async with gate:
                answer = await client.post("/generate", json={"model": MODEL, "n": 1, "seed": seed},
                                           headers=ONE_CALL)
                answers[answer.status_code] += 1

        await asyncio.gather(*(one(seed) for seed in seeds))
    return answers


def project(before: dict, after: dict, jobs: int, *, rate: float, minutes: float, job_ttl_s: int,
            short_ttl_s: int, packed: dict | None = None, hot_s: float = 0.0) -> dict:
    """Per job: used_memory's growth, split into what lives as long as the job and what expires
    with its output (and, with `packed`: Redis once every record is packed, what packing takes
    off, which lives `hot_s`); then the memory of a `minutes` run at `rate` against the cap."""
    unpacked = (after["used_memory"] - before["used_memory"]) / jobs
    settled = packed if packed is not None else after
    per_job = (settled["used_memory"] - before["used_memory"]) / jobs
    hot = max(0.0, unpacked - per_job)  # bytes per job that packing takes off, held `hot_s` first
    short = 0.0  # bytes per job that expire with the output (blob, cache entry)
    for kind in ("output blob", "cache entry"):
        grown = after["kinds"].get(kind, {}).get("keys", 0) - before["kinds"].get(kind, {}).get("keys", 0)
        ttl = after["kinds"].get(kind, {}).get("max_ttl_s")
        if grown > 0 and ttl is not None and ttl <= short_ttl_s:
            short += grown / jobs * after["kinds"][kind]["mean_bytes"]
    long = per_job - short
    seconds = minutes * 60
    total_jobs = rate * seconds
    live_short = rate * min(seconds, short_ttl_s)
    hot_bytes = rate * min(seconds, hot_s) * hot
    projected = before["used_memory"] + total_jobs * long + live_short * short + hot_bytes
    room = CAP_BYTES - before["used_memory"] - hot_bytes
    seconds_to_cap = room / (rate * (long + short))  # while every output made is still there
    if seconds_to_cap > short_ttl_s:  # past the short TTL only what is kept for the job TTL still grows
        seconds_to_cap = (room - rate * short_ttl_s * short) / (rate * long) if long > 0 else None
    return {
        "bytes_per_job": round(per_job), "kept_for_job_ttl_bytes": round(long), "expiring_bytes": round(short),
        "unpacked_bytes_per_job": round(unpacked), "packing_takes_off_bytes": round(hot), "held_unpacked_s": hot_s,
        "keys_per_job": round((after["keys"] - before["keys"]) / jobs, 2),
        "soak": {"rate": rate, "minutes": minutes, "jobs": int(total_jobs), "job_ttl_s": job_ttl_s,
                 "one_call_ttl_s": short_ttl_s, "projected_mib": round(projected / 2**20, 1),
                 "cap_mib": CAP_BYTES // 2**20, "fits": projected < CAP_BYTES,
                 "minutes_to_cap": round(seconds_to_cap / 60, 1) if seconds_to_cap else None},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_memory", description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rate", type=float, default=300.0, help="of the projected soak, requests per second")
    parser.add_argument("--minutes", type=float, default=30.0, help="of the projected soak")
    parser.add_argument("--listpack-value", type=int, default=None,
                        help="Redis's hash-max-listpack-value for the run (its default: 64)")
    parser.add_argument("--out", type=Path, default=None, help="a JSON file for the figures")
    args = parser.parse_args()
    settings = Settings()
    short_ttl_s = getattr(settings, "one_call_ttl_s", settings.output_ttl_s)  # before issue 24: the output TTL
    # Records packed 45 s after their end (after the "after" census), by a reaper every 2 s (a third of the lease TTL).
    pack_env = {"GANFORGE_RECORD_PACK_AFTER_S": "45", "GANFORGE_LEASE_TTL_S": "6"}
    with tempfile.TemporaryDirectory(prefix="gf-redis-memory-") as state_dir, \
            Stack(Path(state_dir), extra_env=pack_env, worker_concurrency=8) as stack:
        client = redis.Redis.from_url(stack.redis_url)
        if args.listpack_value is not None:
            client.config_set("hash-max-listpack-value", args.listpack_value)
        base = 1_000_000 + int(time.time()) % 1_000_000 * 1000
        asyncio.run(send(stack.api_url, stack.auth_headers, list(range(base - 50, base)), 8))  # warm
        time.sleep(1.0)  # the worker's last acks
        before = census(client)
        started = time.monotonic()
        answers = asyncio.run(send(stack.api_url, stack.auth_headers, list(range(base, base + args.jobs)),
                                   args.concurrency))
        elapsed = time.monotonic() - started
        time.sleep(1.0)
        after = census(client)
        deadline = time.monotonic() + 180
        while client.zcard(keys.PACKABLE) and time.monotonic() < deadline:
            time.sleep(1.0)
        time.sleep(3.0)  # the last pass's writes
        packed = census(client)
        result = {
            "jobs": args.jobs, "answers": dict(answers), "seconds": round(elapsed, 1),
            "redis": client.info("server")["redis_version"],
            "hash_max_listpack_value": int(client.config_get("hash-max-listpack-value")["hash-max-listpack-value"]),
            "machine": f"{os.cpu_count()} CPUs",
            "before": before, "after": after, "packed": packed,
            **project(before, after, args.jobs, rate=args.rate, minutes=args.minutes,
                      job_ttl_s=settings.job_ttl_s, short_ttl_s=short_ttl_s, packed=packed,
                      hot_s=settings.record_pack_after_s + settings.lease_ttl_s / 3),
        }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
