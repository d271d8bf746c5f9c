"""GET /metrics in the Prometheus text format.

Three sources, one exposition:
- this API process's own requests (a middleware: by method, route template and status, with a
  latency histogram), in a registry of the app's own;
- figures every worker and API process adds up in Redis (service/core/metrics.py): jobs by
  kind, model version and outcome with run-time and queue-wait histograms, batch sizes the
  batchers formed, result-cache lookups (and their hit ratio);
- gauges read from Redis at scrape time: queue depths, live workers per queue, running jobs,
  the progress of each running training job, and where a worker sees a GPU (and has
  nvidia-ml-py) that GPU's utilisation and memory, from the worker's presence record.
Counters kept in Redis are cluster-wide: every API replica answers the same totals, so scrape
one replica for them (or aggregate with max, not sum).
"""

import json
import time

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.auth import RequireScope
from service.core import keys
from service.core.metrics import (
    BATCH_SIZE,
    CACHE_LOOKUPS,
    JOB_DURATION,
    JOBS,
    QUEUE_WAIT,
    WORKER_CRASHED,
    read_counters,
    read_histograms,
)
from service.core.presence import live_workers
from service.core.routing import ROUTES

# Model names and training job ids of every owner show in the labels: a key needs the scope.
router = APIRouter(tags=["health"], dependencies=[RequireScope("metrics")])

REQUEST_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TRAINING_FIGURES = {  # progress field -> (metric, help)
    "step": ("ganforge_training_step", "Optimizer steps a running training job has taken."),
    "total": ("ganforge_training_total_steps", "Steps a running training job will take."),
    "images_per_sec": ("ganforge_training_images_per_second", "Training throughput of a running job."),
    "eta_s": ("ganforge_training_eta_seconds", "Estimated seconds left of a running training job."),
}


class RequestMetrics:
    """Per-process HTTP figures, in the app's own registry (several apps may live in one process)."""

    def __init__(self, registry: CollectorRegistry):
        labels = ("method", "route", "status")
        self.requests = Counter("ganforge_http_requests", "HTTP requests answered, by route template and status.",
                                labels, registry=registry)
        self.latency = Histogram("ganforge_http_request_duration_seconds",
                                 "Time from a request's arrival to the end of its answer (streams included).",
                                 labels, buckets=REQUEST_SECONDS, registry=registry)


class HttpMetricsMiddleware:
    """Times every HTTP request; labels it with the route template it matched (`/jobs/{job_id}`),
    never the raw path, so the label set stays small; unmatched paths share one label."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            labels = (scope["method"], getattr(route, "path", None) or "unmatched", str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


class ClusterCollector:
    """Reads Redis at scrape time: the added-up figures and the gauges of the moment."""

    def __init__(self, app: FastAPI):
        self.app = app

    def describe(self):
        return []  # collected only at scrape time: nothing to check at registration

    def collect(self):
        state = getattr(self.app.state, "ganforge", None)
        if state is None:  # before the lifespan ran
            return
        client = state.redis
        yield self._counter(client, JOBS)
        yield self._counter(client, WORKER_CRASHED)
        for spec in (JOB_DURATION, QUEUE_WAIT, BATCH_SIZE):
            yield self._histogram(client, spec)
        lookups = read_counters(client, CACHE_LOOKUPS)
        yield self._counter(client, CACHE_LOOKUPS, lookups)
        yield _hit_ratio(lookups)
        workers = live_workers(client)
        yield from _queue_gauges(client, workers)
        yield from _running_gauges(client)
        yield from gpu_gauges(workers)

    @staticmethod
    def _counter(client, spec, series=None) -> CounterMetricFamily:
        family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
        for labels, value in series if series is not None else read_counters(client, spec):
            family.add_metric([labels[name] for name in spec.labels], value)
        return family

    @staticmethod
    def _histogram(client, spec) -> HistogramMetricFamily:
        family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
        for series in read_histograms(client, spec):
            family.add_metric([series.labels[name] for name in spec.labels], series.buckets, series.sum)
        return family


def _hit_ratio(lookups) -> GaugeMetricFamily:
    family = GaugeMetricFamily("ganforge_result_cache_hit_ratio",
                               "Share of deterministic requests answered from the result cache, since counting began.",
                               labels=["kind"])
    by_kind: dict[str, dict[str, float]] = {}
    for labels, value in lookups:
        by_kind.setdefault(labels["kind"], {})[labels["result"]] = value
    for kind, counts in sorted(by_kind.items()):
        total = counts.get("hit", 0.0) + counts.get("miss", 0.0)
        family.add_metric([kind], counts.get("hit", 0.0) / total if total else 0.0)
    return family


def _queue_gauges(client, workers: list[dict]):
    # The routing table's queues, and any other a live worker consumes (a heavy-image queue, say).
    queues = sorted({route.queue for route in ROUTES.values()} | {q for w in workers for q in w["queues"]})
    depths = GaugeMetricFamily("ganforge_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"])
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
    for queue, depth in zip(queues, pipe.execute()):
        depths.add_metric([queue], depth)
    yield depths
    live = GaugeMetricFamily("ganforge_workers_live", "Live worker processes consuming a queue.", labels=["queue"])
    for queue in queues:
        live.add_metric([queue], sum(queue in w["queues"] for w in workers))
    yield live


GPU_FIGURES = (  # field of a worker's `gpus` entries -> (metric, help)
    ("utilization", "ganforge_gpu_utilization_ratio",
     "Share of the last sample period in which a kernel ran on the GPU (NVML), 0 to 1."),
    ("memory_used_bytes", "ganforge_gpu_memory_used_bytes", "GPU memory in use by every process on it (NVML)."),
    ("memory_total_bytes", "ganforge_gpu_memory_total_bytes", "GPU memory in all (NVML)."),
)


def gpu_gauges(workers: list[dict]) -> list[GaugeMetricFamily]:
    """Utilisation and memory of every GPU a live worker sees, once per GPU (workers read them
    with nvidia-ml-py at each presence beat, so they lag by up to GANFORGE_WORKER_HEARTBEAT_S).
    No GPU anywhere, or no nvidia-ml-py: no families at all, rather than empty ones."""
    seen: dict[tuple[str, str], dict] = {}
    for worker in workers:
        host = worker.get("host") or str(worker.get("id", "")).rpartition(":")[0]
        for gpu in worker.get("gpus") or ():
            seen.setdefault((host, gpu.get("uuid") or str(gpu.get("index"))), {**gpu, "host": host})
    if not seen:
        return []
    families = []
    for field, name, text in GPU_FIGURES:
        family = GaugeMetricFamily(name, text, labels=["host", "gpu", "uuid", "name"])
        for (host, _), gpu in sorted(seen.items()):
            if isinstance(gpu.get(field), (int, float)):
                family.add_metric([host, str(gpu.get("index", "")), gpu.get("uuid", ""), gpu.get("name", "")],
                                  gpu[field])
        families.append(family)
    return families


def _running_gauges(client):
    job_ids = sorted(i.decode() for i in client.smembers(keys.RUNNING))
    pipe = client.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(keys.job(job_id), ("kind", "model", "progress"))
    running = GaugeMetricFamily("ganforge_jobs_running", "Jobs a worker is running now.", labels=["kind"])
    figures = {field: GaugeMetricFamily(name, text, labels=["job_id", "model"])
               for field, (name, text) in TRAINING_FIGURES.items()}
    ratio = GaugeMetricFamily("ganforge_training_progress_ratio", "step / total of a running training job.",
                              labels=["job_id", "model"])
    losses = GaugeMetricFamily("ganforge_training_loss", "Latest losses of a running training job.",
                               labels=["job_id", "model", "loss"])
    counts: dict[str, int] = {}
    for job_id, values in zip(job_ids, pipe.execute() if job_ids else []):
        kind, model, progress = (json.loads(v) if v is not None else None for v in values)
        if kind is None:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        if kind != "train" or not progress:
            continue
        model_label = f"{model['name']}:{model['version']}" if model else ""
        for field, family in figures.items():
            if isinstance(progress.get(field), (int, float)):
                family.add_metric([job_id, model_label], progress[field])
        if progress.get("total"):
            ratio.add_metric([job_id, model_label], progress.get("step", 0) / progress["total"])
        for loss, value in (progress.get("losses") or {}).items():
            if isinstance(value, (int, float)):
                losses.add_metric([job_id, model_label, loss], value)
    for kind in sorted({*counts, *(k for k in ROUTES)}):
        running.add_metric([kind], counts.get(kind, 0))
    yield running
    yield from figures.values()
    yield ratio
    yield losses


# -- the API process's own figures (cache lookups happen here, not in a worker) ---------------


def count_cache_lookup(state, kind: str, hit: bool) -> None:
    """Into the process's buffered recorder (ApiState.metrics_recorder)."""
    state.metrics_recorder.count(CACHE_LOOKUPS, {"kind": kind, "result": "hit" if hit else "miss"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "The text exposition format"}})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI) -> None:
    """The /metrics route, the request middleware and the scrape-time collector, on `app`."""
    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    registry.register(ClusterCollector(app))
    app.add_middleware(HttpMetricsMiddleware, metrics=RequestMetrics(registry))
    app.include_router(router)
