"""What a worker process builds once and its tasks share: Redis, the job and model stores, sessions."""

from functools import cached_property

import redis
from celery import Celery

from models.store import ModelStore, open_model_store
from service.core.job_store import JobStore
from service.core.model_changes import ModelChanges
from service.core.redis_clients import Replication, sync_client
from service.core.settings import Settings


class WorkerContext:
    def __init__(self, settings: Settings):
        self.settings = settings

    def close(self) -> None:
        """Stop following model changes, if it began (a context built in a test, whose Redis goes
        before the process does: the follower would retry it for as long as the process lives)."""
        if "model_changes" in self.__dict__:
            self.model_changes.stop()

    @cached_property
    def redis(self) -> redis.Redis:
        return sync_client(self.settings.redis_url, health_check_interval=30)

    @cached_property
    def replication(self) -> Replication:
        """How a job's end waits for a replica before the job's message is acknowledged."""
        return Replication(self.settings.redis_min_replicas, self.settings.redis_replica_wait_ms)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.redis, job_ttl_s=self.settings.job_ttl_s, output_ttl_s=self.settings.output_ttl_s)

    @cached_property
    def models(self) -> ModelStore:
        return self.model_changes.registry

    @cached_property
    def model_changes(self) -> ModelChanges:
        """The registry's writes told to every process, and theirs dropped from its answers (pub/sub)."""
        return ModelChanges(open_model_store(**self.settings.model_store_options), self.settings.redis_url,
                            self.redis).start()

    @cached_property
    def sessions(self):
        # onnxruntime only where inference runs
        from models.inference.sessions import choose_providers
        from workers.sessions import SessionCache

        return SessionCache(
            threads=self.settings.ort_threads,
            providers=choose_providers(self.settings.ort_providers),
            max_batch_size=self.settings.max_batch_size,
            max_delay_ms=self.settings.max_batch_delay_ms,
            fp16=self.settings.ort_fp16,
        )


def worker_context(app: Celery) -> WorkerContext:
    """The context of this process, made on first use (after fork, never before)."""
    context = getattr(app, "ganforge_context", None)
    if context is None:
        context = app.ganforge_context = WorkerContext(app.conf.ganforge_settings)
    return context
