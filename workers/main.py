"""Entry point of a worker: `celery -A workers.main worker -Q inference,training`."""

from celery.signals import worker_ready, worker_shutdown

from models.store import ModelStore
from service.logs import configure_logging
from service.settings import load_settings
from workers.celery_app import create_celery
from workers.context import worker_context
from workers.presence import Presence

settings = load_settings()
configure_logging(settings.log_format, settings.log_level)
app = create_celery(settings, include_tasks=True)


@worker_ready.connect
def _announce(sender, **_) -> None:
    context = worker_context(app)
    context.models.seed_from(ModelStore(settings.zoo_dir))
    queues = list(sender.app.amqp.queues.consume_from)
    app.ganforge_presence = Presence(context.redis, queues, settings.worker_heartbeat_s)
    app.ganforge_presence.start()


@worker_shutdown.connect
def _withdraw(**_) -> None:
    presence = getattr(app, "ganforge_presence", None)
    if presence is not None:
        presence.stop()
