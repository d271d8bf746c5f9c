"""What a worker tells /metrics: every job it ran (kind, model version, outcome, run time, time
queued) and every batch its batchers formed, added up in Redis by service.core.metrics.

Jobs are seen through Celery's task signals, so no task and no job runner knows about metrics,
and the job records are read off the job's path: a finished task only leaves its job id in a
list, and the recorder's flush thread reads those records (one pipelined HMGET a second) just
before it writes the figures.
"""

import json
import threading
from datetime import UTC, datetime

import redis
from celery import Celery
from celery.signals import task_postrun, task_prerun

from service.core import keys
from service.core.metrics import (
    BATCH_SIZE,
    JOB_DURATION,
    JOBS,
    QUEUE_WAIT,
    MetricsRecorder,
)
from service.core.routing import COALESCED_KINDS, ROUTES, coalesced_task
from workers import batcher

# A coalesced message (`<task>.many`) carries several job ids in its first argument.
_JOB_TASKS = {route.task for route in ROUTES.values()} | {coalesced_task(kind) for kind in COALESCED_KINDS}
_FIELDS = ("kind", "model", "status", "created_at", "started_at", "finished_at")
_TERMINAL = {"succeeded", "failed", "canceled"}


class JobObserver:
    def __init__(self, client: redis.Redis, recorder: MetricsRecorder):
        self.client = client
        self.recorder = recorder
        self._began: dict[str, datetime] = {}  # task id -> when this process began it
        self._finished: list[tuple[str, datetime]] = []  # (job id, when its task began)
        self._lock = threading.Lock()

    def began(self, task_id: str) -> None:
        self._began[task_id] = datetime.now(UTC)

    def ended(self, task_id: str, job_ids: list[str]) -> None:
        began = self._began.pop(task_id, None)
        if began is not None:
            with self._lock:
                self._finished.extend((job_id, began) for job_id in job_ids)

    def record_finished(self) -> None:
        """Turn the jobs finished since the last call into figures (the recorder calls this)."""
        with self._lock:
            finished, self._finished = self._finished, []
        if not finished:
            return
        pipe = self.client.pipeline(transaction=False)
        for job_id, _ in finished:
            pipe.hmget(keys.job(job_id), _FIELDS)
        for (job_id, began), values in zip(finished, pipe.execute()):
            record = {name: json.loads(v) if v is not None else None for name, v in zip(_FIELDS, values)}
            self._record(record, began)

    def _record(self, record: dict, began: datetime) -> None:
        if record["status"] not in _TERMINAL or not record["started_at"] or not record["finished_at"]:
            return  # not run here (another worker held it, or it was canceled while queued)
        started, finished = datetime.fromisoformat(record["started_at"]), datetime.fromisoformat(record["finished_at"])
        if started < began:
            return  # a redelivery that found the job already done by someone else
        model = record["model"] or {}
        labels = {"kind": record["kind"], "model": f"{model['name']}:{model['version']}" if model else "",
                  "outcome": record["status"]}
        self.recorder.count(JOBS, labels)
        self.recorder.observe(JOB_DURATION, labels, (finished - started).total_seconds())
        created = datetime.fromisoformat(record["created_at"])
        self.recorder.observe(QUEUE_WAIT, {"kind": record["kind"]}, max(0.0, (started - created).total_seconds()))


def install_job_metrics(app: Celery, client: redis.Redis) -> MetricsRecorder:
    """Start this worker process's recorder and connect it to its tasks and batchers."""
    recorder = MetricsRecorder(client)
    observer = JobObserver(client, recorder)
    recorder.before_flush.append(observer.record_finished)

    @task_prerun.connect(weak=False)
    def _began(sender=None, task_id=None, **_) -> None:
        if sender is not None and sender.name in _JOB_TASKS:
            observer.began(task_id)

    @task_postrun.connect(weak=False)
    def _ended(sender=None, task_id=None, args=None, **_) -> None:
        if sender is not None and sender.name in _JOB_TASKS and args:
            observer.ended(task_id, args[0] if isinstance(args[0], list) else [args[0]])

    batcher.BATCH_OBSERVERS.append(lambda model, images: recorder.observe(BATCH_SIZE, {"model": model}, images))
    app.ganforge_metrics = recorder.start()
    return recorder
