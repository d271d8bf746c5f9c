"""Pieces of the API's per-request path timed in-process, to explain the API's CPU per request:
resolving the model (the registry on disk is read on every request) and building, dumping and
re-validating a Job record the way the job store does."""

import json
import time
from datetime import UTC, datetime

from bench.timing import interleaved
from models.store import ModelStore
from service.core.jobs import Job, JobStatus, ModelRef


def measure_pieces(store: ModelStore, model: str, *, rounds: int, round_s: float) -> dict:
    manifest = store.resolve(model)
    job = Job(id="0" * 32, kind="generate", status=JobStatus.queued,
              model=ModelRef(name=manifest.name, version=manifest.version),
              params={"n": 1, "seed": 1, "labels": None, "truncation": None, "format": "png"},
              created_at=datetime.now(UTC))
    stored = {k: json.dumps(v) for k, v in job.model_dump(mode="json").items()}

    def job_round_trip():
        return Job.model_validate({k: json.loads(v) for k, v in stored.items()})

    timed = interleaved({"resolve": lambda: store.resolve(model), "job_read": job_round_trip},
                        rounds=rounds, round_s=round_s)
    return {
        "model_resolve_ms": timed["resolve"]["median_s"] * 1e3,
        "job_record_parse_ms": timed["job_read"]["median_s"] * 1e3,
    }


def measure_round_trips(redis_url: str, *, rounds: int, round_s: float) -> dict:
    """A Redis round trip, and one Celery publish (what `enqueue` does per job), against the
    stack's own Redis; the probe queue is consumed by no one and deleted afterwards."""
    import redis

    from service.core.queue import create_celery
    from service.core.settings import load_settings

    client = redis.Redis.from_url(redis_url)
    app = create_celery(load_settings(redis_url=redis_url))
    probe = "bench-probe"
    cpu_before = time.process_time()
    timed = interleaved({
        "ping": client.ping,
        "publish": lambda: app.send_task("bench.probe", args=["0" * 32], kwargs={"cache_digest": None}, queue=probe),
    }, rounds=rounds, round_s=round_s)
    cpu_s = time.process_time() - cpu_before
    calls = timed["ping"]["calls"] + timed["publish"]["calls"]
    client.delete(probe)
    return {
        "redis_round_trip_ms": timed["ping"]["median_s"] * 1e3,
        "celery_publish_ms": timed["publish"]["median_s"] * 1e3,
        "bench_cpu_ms_per_call_mean": cpu_s * 1e3 / max(calls, 1),
    }
