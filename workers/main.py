"""Entry point of a worker: `celery -A workers.main worker -Q inference,training`."""

from celery.signals import worker_ready, worker_shutdown

from models.store import ModelStore
from service.core.logs import configure_logging
from service.core.presence import Presence
from service.core.queue import create_celery
from service.core.settings import load_settings
from workers.context import worker_context
from workers.job_metrics import install_job_metrics
from workers.reaper import Reaper

settings = load_settings()
configure_logging(settings.log_format, settings.log_level)
TASK_MODULES = ("workers.inference", "workers.translate", "workers.upscale", "workers.training", "workers.evaluation",
                "workers.webhooks", "workers.oip")
app = create_celery(settings, include=TASK_MODULES)


@worker_ready.connect
def _announce(sender, **_) -> None:
    context = worker_context(app)
    context.models.seed_from(ModelStore(settings.zoo_dir))
    queues = list(sender.app.amqp.queues.consume_from)
    app.ganforge_presence = Presence(context.redis, queues, settings.worker_heartbeat_s)
    app.ganforge_presence.start()
    app.ganforge_reaper = Reaper(context.jobs, app, settings.lease_ttl_s)
    app.ganforge_reaper.start()
    install_job_metrics(app, context.redis)  # figures for /metrics, added up in Redis


@worker_shutdown.connect
def _withdraw(**_) -> None:
    for service in ("ganforge_reaper", "ganforge_presence", "ganforge_metrics"):
        if (running := getattr(app, service, None)) is not None:
            running.stop()
