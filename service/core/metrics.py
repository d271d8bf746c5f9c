"""Figures the workers (and the API) add up in Redis, so one scrape of /metrics sees them all.

Workers may run on other machines, and a worker process comes and goes, so per-process
counters served from each worker would need service discovery and would reset on every
restart. Instead every process adds its figures into Redis hashes (HINCRBYFLOAT), and the API
reads them at scrape time (service/api/metrics.py) and exposes them as counters and histograms:
cluster-wide totals that survive worker restarts. Increments are buffered in the process and
flushed by a daemon thread every `flush_interval_s`, so a job pays no Redis round trip for
them; a scrape lags the work by at most that much.

Layout: `gf:metrics:c:{name}` holds one field per label set (JSON) -> value;
`gf:metrics:h:{name}` holds `{labels}|{bucket index}` -> count in that bucket (not cumulative),
`{labels}|sum` and `{labels}|count`. The keys have no TTL (the Redis `volatile-ttl` policy
never evicts them) and their size is bounded by the label sets: kinds, models and outcomes.
"""

import json
import logging
import math
import threading
from collections import defaultdict
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

PREFIX = "gf:metrics"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()  # histograms only; +Inf is implied

    @property
    def is_histogram(self) -> bool:
        return bool(self.buckets)

    @property
    def key(self) -> str:
        return f"{PREFIX}:{'h' if self.is_histogram else 'c'}:{self.name}"


JOB_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

JOBS = MetricSpec("ganforge_jobs", "Jobs finished by a worker, by kind, model and outcome.", ("kind", "model", "outcome"))
JOB_DURATION = MetricSpec("ganforge_job_duration_seconds", "Time a worker spent running a job.",
                          ("kind", "model", "outcome"), JOB_SECONDS)
QUEUE_WAIT = MetricSpec("ganforge_job_queue_wait_seconds", "Time from a job's acceptance to a worker starting it.",
                        ("kind",), JOB_SECONDS)
BATCH_SIZE = MetricSpec("ganforge_batch_size", "Images in each ONNX Runtime run the batcher formed.", ("model",),
                        (1, 2, 4, 8, 16, 32, 64, 128))
CACHE_LOOKUPS = MetricSpec("ganforge_result_cache_lookups", "Deterministic requests looked up in the result cache.",
                           ("kind", "result"))
WORKER_CRASHED = MetricSpec("ganforge_jobs_worker_crashed", "Jobs failed as worker-crashed: their worker died "
                            "running them GANFORGE_MAX_DELIVERIES times (poison jobs), by kind and model version.",
                            ("kind", "model"))
SPECS = (JOBS, JOB_DURATION, QUEUE_WAIT, BATCH_SIZE, CACHE_LOOKUPS, WORKER_CRASHED)


def _labels_key(spec: MetricSpec, labels: dict[str, str]) -> str:
    return json.dumps([str(labels.get(name, "")) for name in spec.labels], separators=(",", ":"))


def count_now(client: redis.Redis, spec: MetricSpec, labels: dict[str, str], value: float = 1.0) -> None:
    """Add to a counter in Redis at once, unbuffered: for rare events seen outside a job's path."""
    client.hincrbyfloat(spec.key, _labels_key(spec, labels), value)


class MetricsRecorder:
    """Buffered increments of this process, flushed into Redis by a daemon thread."""

    def __init__(self, client: redis.Redis, flush_interval_s: float = 1.0):
        self.client = client
        self.flush_interval_s = flush_interval_s
        self._pending: dict[tuple[str, str], float] = defaultdict(float)  # (key, field) -> increment
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.before_flush: list = []  # callables that add figures just before each flush

    def start(self) -> "MetricsRecorder":
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="metrics-flush", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def count(self, spec: MetricSpec, labels: dict[str, str], value: float = 1.0) -> None:
        with self._lock:
            self._pending[(spec.key, _labels_key(spec, labels))] += value

    def observe(self, spec: MetricSpec, labels: dict[str, str], value: float) -> None:
        bucket = next((i for i, bound in enumerate(spec.buckets) if value <= bound), len(spec.buckets))
        labels_key = _labels_key(spec, labels)
        with self._lock:
            self._pending[(spec.key, f"{labels_key}|{bucket}")] += 1
            self._pending[(spec.key, f"{labels_key}|sum")] += value
            self._pending[(spec.key, f"{labels_key}|count")] += 1

    def flush(self) -> None:
        for prepare in self.before_flush:
            try:
                prepare()
            except Exception:  # a figure lost is better than a flush thread dead
                log.exception("metrics: preparing a flush failed")
        with self._lock:
            pending, self._pending = self._pending, defaultdict(float)
        if not pending:
            return
        pipe = self.client.pipeline(transaction=False)
        for (key, field), value in pending.items():
            pipe.hincrbyfloat(key, field, value)
        try:
            pipe.execute()
        except redis.RedisError as error:  # keep the figures for the next try
            log.warning("metrics not flushed (%s); retrying", error)
            with self._lock:
                for item, value in pending.items():
                    self._pending[item] += value

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush()


@dataclass
class HistogramSeries:
    labels: dict[str, str]
    buckets: list[tuple[str, float]]  # (upper bound, cumulative count), "+Inf" last
    sum: float
    count: float


def read_counters(client: redis.Redis, spec: MetricSpec) -> list[tuple[dict[str, str], float]]:
    raw = client.hgetall(spec.key)
    return [(dict(zip(spec.labels, json.loads(field))), float(value)) for field, value in raw.items()]


def read_histograms(client: redis.Redis, spec: MetricSpec) -> list[HistogramSeries]:
    series: dict[str, dict[str, float]] = defaultdict(dict)
    for field, value in client.hgetall(spec.key).items():
        labels_key, _, part = field.decode().rpartition("|")
        series[labels_key][part] = float(value)
    answer = []
    bounds = [_bound(b) for b in spec.buckets] + ["+Inf"]
    for labels_key, parts in series.items():
        running, buckets = 0.0, []
        for index, bound in enumerate(bounds):
            running += parts.get(str(index), 0.0)
            buckets.append((bound, running))
        answer.append(HistogramSeries(dict(zip(spec.labels, json.loads(labels_key))), buckets,
                                      parts.get("sum", 0.0), parts.get("count", 0.0)))
    return answer


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))
