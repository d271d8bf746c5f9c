"""Entry point of a worker: `celery -A workers.main worker -Q inference,training`."""

import gc

from celery.signals import (
    task_received,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from models.artifacts.outputs import open_output_store
from models.store import ModelStore
from service.core.job_store.compaction import RecordPacker
from service.core.logs import configure_logging
from service.core.presence import Presence
from service.core.queue import create_celery
from service.core.settings import load_settings
from workers.context import worker_context
from workers.devices import worker_device
from workers.job_metrics import install_job_metrics
from workers.reaper import JOB_TASKS, Reaper
from workers.receipts import ReceiptWriter
from workers.shutdown import begin_stopping

settings = load_settings()
configure_logging(settings.log_format, settings.log_level)
TASK_MODULES = ("workers.inference", "workers.translate", "workers.upscale", "workers.training", "workers.evaluation",
                "workers.webhooks", "workers.oip", "workers.model_upload",
                "workers.model_import")
app = create_celery(settings, include=TASK_MODULES)


@worker_ready.connect
def _announce(sender, **_) -> None:
    context = worker_context(app)
    context.models.seed_from(ModelStore(settings.zoo_dir))
    queues = list(sender.app.amqp.queues.consume_from)
    device = worker_device(settings, queues)  # named in the presence record, with its memory at each beat
    app.ganforge_presence = Presence(context.redis, queues, settings.worker_heartbeat_s, about=device.about(),
                                     figures=device.figures)
    app.ganforge_presence.start()
    app.ganforge_receipts = ReceiptWriter(context.jobs, app.ganforge_presence.worker_id)
    app.ganforge_reaper = Reaper(context.jobs, app, settings.lease_ttl_s, lost_grace_s=settings.lost_job_grace_s,
                                 max_deliveries=settings.max_deliveries,
                                 outputs=open_output_store(settings.outputs_store_url, settings.s3_endpoint_url),
                                 records=RecordPacker(context.redis, settings.record_pack_after_s))
    app.ganforge_reaper.start()
    install_job_metrics(app, context.redis)  # figures for /metrics, added up in Redis
    # The worker's startup objects live as long as it does: out of the collector's sight, a full
    # collection no longer walks them (~70 ms every few seconds under load, bench/REPORT.md).
    gc.freeze()


@task_received.connect
def _note_received(request=None, **_) -> None:
    """Say which worker fetched a job's message, so the reaper can send it again if this worker
    dies before starting it (workers/reaper.py)."""
    receipts = getattr(app, "ganforge_receipts", None)
    if receipts is None or request is None or request.name not in JOB_TASKS or not request.args:
        return
    receipts.note(request.args[0] if isinstance(request.args[0], list) else [request.args[0]])  # coalesced: several


@worker_shutting_down.connect
def _stop_gracefully(**_) -> None:
    """SIGTERM: Celery stops fetching and waits for the running tasks; a training among them
    checkpoints and hands its job back rather than running on for hours (workers/shutdown.py)."""
    begin_stopping()


@worker_shutdown.connect
def _withdraw(**_) -> None:
    for service in ("ganforge_reaper", "ganforge_receipts", "ganforge_presence", "ganforge_metrics"):
        if (running := getattr(app, service, None)) is not None:
            running.stop()
