"""What the API process holds for its lifetime: settings, Redis, the stores, the Celery client.

Every field is declared here; nothing is hung on the state at run time. The sync side (`redis`,
`jobs`) serves the routes that are plain functions, run in threads; the event loop's side
(`redis_async`, `jobs_async`, `hub`, `coalescer`) is made by `start` inside the loop (app.py's
lifespan) and is what every job-creating route runs on.
"""

from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
from celery import Celery

from models.store import ModelStore, open_model_store
from service.api.event_hub import EventHub
from service.api.jobs.coalescer import Coalescer
from service.api.rate_limit import RateLimiter
from service.core.api_keys import UNLIMITED, ApiKeyStore
from service.core.job_store import AsyncJobStore, JobStore
from service.core.metrics import MetricsRecorder
from service.core.model_changes import ModelChanges
from service.core.queue import create_celery
from service.core.redis_clients import Replication, async_client, sync_client
from service.core.settings import Settings


def async_redis(settings: Settings) -> aioredis.Redis:
    """The event loop's client. Thousands of streams share a few connections: past the pool's size
    a read waits its turn (an asyncio wait, no thread) instead of failing with "Too many
    connections" mid-stream. Its transactions (a job's record and message) reach a replica before
    they return, when the primary has one (redis_clients.Replication): a 202 survives a failover."""
    return async_client(settings.redis_url, max_connections=128, timeout=30,
                        replication=Replication(settings.redis_min_replicas, settings.redis_replica_wait_ms),
                        socket_connect_timeout=2, socket_timeout=5, socket_keepalive=True, health_check_interval=10)


@dataclass
class ApiState:
    settings: Settings
    redis: redis.Redis
    jobs: JobStore
    models: ModelStore
    celery: Celery
    api_keys: ApiKeyStore
    rate_limiter: RateLimiter
    metrics_recorder: MetricsRecorder  # this process's buffered figures (cache lookups), flushed by a thread
    model_changes: ModelChanges  # tells the other processes of `models`' writes and drops what they change
    # The event loop's own, made by `start`:
    redis_async: aioredis.Redis | None = None
    jobs_async: AsyncJobStore | None = None
    hub: EventHub | None = None  # one subscription to job events: `Prefer: wait` and SSE without a thread
    coalescer: Coalescer | None = None  # None while batching or coalescing is off

    @classmethod
    def build(cls, settings: Settings) -> "ApiState":
        client = sync_client(
            settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
            retry_on_timeout=False,
            max_connections=256,
        )
        models = open_model_store(**settings.model_store_options)
        model_changes = ModelChanges(models, settings.redis_url, client).start()
        models.seed_from(ModelStore(settings.zoo_dir))
        return cls(
            settings=settings,
            redis=client,
            jobs=JobStore(client, job_ttl_s=settings.job_ttl_s, output_ttl_s=settings.output_ttl_s),
            models=models,
            celery=create_celery(settings),
            api_keys=ApiKeyStore(client),
            rate_limiter=RateLimiter(async_client(settings.redis_url, max_connections=64, socket_connect_timeout=2,
                                                  socket_timeout=5), settings.default_rate),
            metrics_recorder=MetricsRecorder(client).start(),
            model_changes=model_changes,
        )

    def start(self) -> None:
        """The event loop's side, inside the running loop."""
        settings = self.settings
        self.redis_async = async_redis(settings)
        self.jobs_async = AsyncJobStore(self.redis_async, job_ttl_s=settings.job_ttl_s,
                                        output_ttl_s=settings.output_ttl_s)
        self.hub = EventHub(self.jobs_async)
        self.hub.start()
        if settings.max_batch_size > 1 and settings.coalesce:  # sized like the workers' batches
            self.coalescer = Coalescer(self.celery, self.redis_async, max_jobs=settings.max_batch_size,
                                       window_ms=settings.max_batch_delay_ms)

    async def stop(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self.redis_async is not None:
            await self.redis_async.aclose()
        self.metrics_recorder.stop()
        self.model_changes.stop()
        self.redis.close()

    def check_keys(self) -> None:
        """Register GANFORGE_ADMIN_KEY, and refuse to serve beyond loopback with no key at all."""
        if self.settings.admin_key is not None:
            self.api_keys.ensure(self.settings.admin_key.get_secret_value(), "admin", ["admin"], rate=UNLIMITED)
        if not self.settings.binds_loopback and self.api_keys.count() == 0:
            raise RuntimeError(
                f"refusing to listen on {self.settings.host} without API keys: set GANFORGE_ADMIN_KEY, or create "
                "keys with `python -m service.core.api_keys create`, or bind to 127.0.0.1"
            )
