"""Redis under a steady job rate: `python -m bench.redis_soak` (issue 24, item 3).

The issue's target: 30 minutes at 300 small one-call jobs a second stay under Redis's default
512 MiB cap with no `503 store-full`. This machine cannot send 300 HTTP requests a second through
the API and an ONNX worker (bench.peers: ~150 at best), so this soak drives what those processes
write to Redis, through the store's own code, at the rate asked for:

- the API's part of a new job: its record, how it is queued, its place in its owner's list
  (codec.stage_create and job_index.record, as service/api/jobs/plan.py stages them);
- a worker's part: taking the jobs of a "message" in one call (take_many, leases included), then
  each job's end in one FINISH call with its ~400-byte output and its result-cache entry, both
  living GANFORGE_ONE_CALL_TTL_S as a one-call answer's do (workers/job_io.py's writes);
- a reaper's part each round: packing the records of jobs that ended `record_pack_after_s` ago
  (service/core/job_store/compaction.py), as every worker's reaper does.

Not in it: the Celery message (pushed and popped within the job, nothing kept), rate-limit and
presence keys (a few per client and per worker, not per job). bench.redis_memory measures a job's
bytes through the whole stack over HTTP; this one measures whether the steady state fits.

Redis is started as `make run` starts it (service/local/redis_server.py: 512 MiB, noeviction,
append-only file). Every write Redis refuses (OOM: the API's 503 store-full) is counted.
"""

import argparse
import hashlib
import json
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis

from bench.redis_memory import census
from service.api import job_index
from service.core.job_store import JobStore, output_entries, utcnow
from service.core.job_store.codec import stage_create
from service.core.job_store.compaction import RecordPacker
from service.core.jobs import Job, JobStatus, ModelRef
from service.core.settings import Settings
from service.local.redis_server import start_redis

TICK_S = 0.1
OUTPUT_BYTES = 420  # a 28x28 digit's PNG is 380-470 bytes
OWNER = "soak"


class Soak:
    def __init__(self, client: redis.Redis, settings: Settings, rate: float, batch: int):
        self.client, self.settings, self.rate, self.batch = client, settings, rate, batch
        self.store = JobStore(client, job_ttl_s=settings.job_ttl_s, output_ttl_s=settings.output_ttl_s)
        self.refused = 0  # writes Redis refused: OOM (the API would answer 503 store-full)
        self.jobs = 0

    def one_tick(self, count: int) -> None:
        jobs = [Job(id=uuid.uuid4().hex, kind="generate", status=JobStatus.queued,
                    model=ModelRef(name="mnist-cdcgan", version=1),
                    params={"n": 1, "seed": self.jobs + i, "labels": None, "truncation": None, "truncation_psi": None,
                            "style_mixing": None, "noise_mode": None, "interpolate": None, "codes": None,
                            "format": "png", "quality": None, "grid": False,
                            "output_ttl_s": self.settings.one_call_ttl_s},
                    created_at=utcnow(), owner=OWNER) for i in range(count)]
        try:
            self._api_writes(jobs)
            self._worker_writes(jobs)
        except redis.exceptions.OutOfMemoryError:
            self.refused += 1
        self.jobs += count

    def _api_writes(self, jobs: list[Job]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for job in jobs:
            task = {"name": "ganforge.inference.generate", "queue": "inference",
                    "kwargs": {"cache_digest": hashlib.sha256(job.id.encode()).hexdigest()}}
            stage_create(pipe, job, self.settings.job_ttl_s, task)
            job_index.record(pipe, job, self.settings.job_ttl_s)
        pipe.execute()

    def _worker_writes(self, jobs: list[Job]) -> None:
        owner = f"soak-worker:{os.getpid()}"
        for start in range(0, len(jobs), self.batch):
            message = jobs[start:start + self.batch]
            self.store.take_many([job.id for job in message], owner, self.settings.lease_ttl_s,
                                 started_at=utcnow(), runner=owner)
            for job in message:
                items = [("0.png", os.urandom(OUTPUT_BYTES), "image/png")]
                outputs = output_entries(job.id, items)
                metrics = {"inference_s": 0.0005, "encode_s": 0.0002, "batch_images": len(message), "labels": [3]}
                ttl_s = self.settings.one_call_ttl_s

                def write(pipe, outputs=outputs, items=items, metrics=metrics, job=job) -> None:
                    self.store.stage_blobs(pipe, outputs, items, ttl_s)
                    self.store.cache_put(hashlib.sha256(job.id.encode()).hexdigest(), job.id, outputs, metrics,
                                         owner=job.owner, pipe=pipe, ttl_s=ttl_s)

                self.store.finish(job.id, JobStatus.succeeded, before=write, release=owner, outputs=outputs,
                                  metrics={**metrics, "message_jobs": len(message), "run_s": 0.001, "worker": owner},
                                  finished_at=utcnow())


def reaper_rounds(packer: RecordPacker, interval_s: float, stop: threading.Event, packed: list[int]) -> None:
    while not stop.wait(interval_s):
        try:
            packed.append(packer.pass_once())
        except redis.exceptions.RedisError:
            packed.append(-1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_soak", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=300.0, help="jobs per second")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=8, help="jobs per worker message (bench.peers saw ~8 at c=32)")
    parser.add_argument("--no-pack", action="store_true", help="no record packing (the tree before it)")
    parser.add_argument("--out", type=Path, default=None, help="a JSON file for the figures")
    args = parser.parse_args()
    settings = Settings()
    samples = []
    with tempfile.TemporaryDirectory(prefix="gf-redis-soak-") as data_dir:
        server = start_redis(Path(data_dir))
        try:
            client = redis.Redis.from_url(server.url)
            soak = Soak(client, settings, args.rate, args.batch)
            stop, packed = threading.Event(), []
            if not args.no_pack:
                packer = RecordPacker(redis.Redis.from_url(server.url), settings.record_pack_after_s)
                threading.Thread(target=reaper_rounds, args=(packer, settings.lease_ttl_s / 3, stop, packed),
                                 daemon=True).start()
            started = time.monotonic()
            next_tick, next_sample, owed = started, started, 0.0
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                owed += args.rate * TICK_S
                count = int(owed)
                owed -= count
                soak.one_tick(count)
                if time.monotonic() >= next_sample:
                    memory = client.info("memory")
                    samples.append({"s": round(elapsed, 1), "jobs": soak.jobs, "used_mib": round(memory["used_memory"] / 2**20, 1),
                                    "keys": client.dbsize(), "refused": soak.refused})
                    print(json.dumps(samples[-1]), flush=True)
                    next_sample += 30
                next_tick += TICK_S
                time.sleep(max(0.0, next_tick - time.monotonic()))
            elapsed = time.monotonic() - started
            stop.set()
            final = census(client)
            result = {
                "rate_asked": args.rate, "minutes": args.minutes, "jobs": soak.jobs,
                "rate_sent": round(soak.jobs / elapsed, 1), "refused_writes": soak.refused,
                "packing": not args.no_pack, "record_pack_after_s": settings.record_pack_after_s,
                "job_ttl_s": settings.job_ttl_s, "one_call_ttl_s": settings.one_call_ttl_s,
                "cap_mib": 512, "peak_used_mib": max(s["used_mib"] for s in samples),
                "final": final, "packed_per_round": packed[-20:],
                "redis": client.info("server")["redis_version"], "machine": f"{os.cpu_count()} CPUs",
                "samples": samples,
            }
        finally:
            server.stop()
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
