"""What the API process holds for its lifetime: settings, Redis, the stores, the Celery client."""

from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from models.store import ModelStore
from service.api.rate_limit import RateLimiter
from service.core.api_keys import UNLIMITED, ApiKeyStore
from service.core.job_store import JobStore
from service.core.queue import create_celery
from service.core.settings import Settings


@dataclass
class ApiState:
    settings: Settings
    redis: redis.Redis
    jobs: JobStore
    models: ModelStore
    celery: Celery
    hub: Any = None  # service.api.event_hub.EventHub, started inside the event loop (app.py lifespan)
    api_keys: ApiKeyStore | None = None
    rate_limiter: Any = None  # service.api.auth.RateLimiter

    @classmethod
    def build(cls, settings: Settings) -> "ApiState":
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=10,
            retry_on_timeout=False,
            max_connections=256,
        )
        models = ModelStore(settings.models_dir)
        models.seed_from(ModelStore(settings.zoo_dir))
        return cls(
            settings=settings,
            redis=client,
            jobs=JobStore(client, job_ttl_s=settings.job_ttl_s, output_ttl_s=settings.output_ttl_s),
            models=models,
            celery=create_celery(settings),
            api_keys=ApiKeyStore(client),
            rate_limiter=RateLimiter(settings.redis_url, settings.default_rate),
        )

    def check_keys(self) -> None:
        """Register GANFORGE_ADMIN_KEY, and refuse to serve beyond loopback with no key at all."""
        if self.settings.admin_key is not None:
            self.api_keys.ensure(self.settings.admin_key.get_secret_value(), "admin", ["admin"], rate=UNLIMITED)
        if not self.settings.binds_loopback and self.api_keys.count() == 0:
            raise RuntimeError(
                f"refusing to listen on {self.settings.host} without API keys: set GANFORGE_ADMIN_KEY, or create "
                "keys with `python -m service.core.api_keys create`, or bind to 127.0.0.1"
            )
