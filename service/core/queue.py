"""The Celery app: broker, routing by task name, delivery guarantees.

The API builds the same app to enqueue by task name (`send_task`), so this module must stay
free of torch and ONNX Runtime; workers pass their task modules in `include`.
"""

import asyncio
import threading
from contextlib import contextmanager
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.transport import redis as kombu_redis

from service.core.job_store import SyncAtomicBatch
from service.core.redis_clients import celery_broker
from service.core.routing import INFERENCE_QUEUE, task_routes
from service.core.settings import Settings


class _QoS(kombu_redis.QoS):
    """kombu's bookkeeping of a fetched message (the `unacked` hash and its index, written on
    delivery and removed on ack) as one script call each (job_store/batch.py), not MULTI, two
    commands, EXEC: atomic as before, two commands on the wire instead of eight per message."""

    @contextmanager
    def pipe_or_acquire(self, pipe=None, client=None):
        if pipe:
            yield pipe
        else:
            with self.channel.conn_or_acquire(client) as client:
                yield SyncAtomicBatch(client)


class _RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, reusing one client for its short commands.

    kombu builds a new `redis.Redis` (~75 µs: it fills a table of response callbacks) for every
    publish and for both halves of a task's ack bookkeeping; a client over the channel's pool is
    thread-safe and nothing closes the ones handed out, so one per pool serves them all.

    It also keeps a worker alive when Redis goes away: closing the channel after the connection
    was lost asks for a client to restore unacknowledged messages, and kombu, building a pool from
    a transport already detached from its connection, raises AttributeError, which Celery treats
    as unrecoverable. A connection error instead is ignored on close, and the messages stay in the
    unacked set for the reaper (workers/reaper.py).

    And inside `execute_with_message`, its publish batches put messages on the caller's pipeline;
    its unacked bookkeeping is one command per change (`_QoS`).
    """

    QoS = _QoS

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        if self._pool is None and self.connection.client is None:
            raise redis.exceptions.ConnectionError("the broker connection is closed")
        pool = self.pool
        shared = self.__dict__.get("_gf_client")
        if shared is None or shared.connection_pool is not pool:  # a new pool after a reconnect
            shared = self.__dict__["_gf_client"] = self._create_client()
        yield shared

    def create_publish_batch(self, max_size):
        pipe = _publishing.pipe
        return _OnCallersPipeline(self, pipe) if pipe is not None else super().create_publish_batch(max_size)


_publishing = threading.local()  # `execute_with_message`'s pipeline, for the thread inside it
_publishing.pipe = None


class _OnCallersPipeline:
    """A kombu publish batch (`Producer.batch`) that queues each message's Redis commands (its
    LPUSH) on the caller's pipeline, and leaves executing that pipeline to `execute_with_message`."""

    def __init__(self, channel: _RedisChannel, pipe: Any):
        self.channel = channel
        self.pipe = pipe

    def publish(self, message, **kwargs):
        # kombu routes the message as for any publish; its transport hands the final commands to `add`.
        return self.channel.basic_publish(message, _publish_batch=self, **kwargs)

    def add(self, name: str, *args: Any) -> None:
        getattr(self.pipe, name)(*args)

    def flush(self) -> None:
        pass  # the caller executes its pipeline, with its own writes

    def discard(self) -> None:
        pass  # a failed send raises, and the caller does not execute its pipeline

    def close(self) -> None:
        pass


def stage_message(pipe: Any, app: Celery, name: str, **options: Any) -> bool:
    """Queue the Redis commands of `app.send_task(name, **options)` on the caller's pipeline, a
    sync or an asyncio one (kombu's publish batch hands them over; queueing a command is the same
    call on both), without executing it; True once they are on it. False for a transport other
    than ours (`rediss://`), which publishes on its own: the caller then executes
    its writes first and sends after, so a worker never receives a job that is not recorded yet."""
    with app.producer_or_acquire() as producer:
        if not isinstance(producer.channel, _RedisChannel):
            return False
        _publishing.pipe = pipe
        try:
            with producer.batch():
                app.send_task(name, producer=producer, **options)
        except OperationalError as error:
            # A connection's first publish declares its queue; kombu reports a full Redis refusing
            # that as a connection problem. It is a full store, as the job's own writes would say.
            if isinstance(error.__cause__, redis.exceptions.OutOfMemoryError):
                raise error.__cause__ from None
            raise
        finally:
            _publishing.pipe = None
    return True


def execute_with_message(pipe: Any, app: Celery, name: str, **options: Any) -> None:
    """Execute the caller's pipeline (a job's record, say) and send `app.send_task(name, **options)`
    in the same round trip: with a transactional pipeline neither the record nor the message
    lands without the other (`stage_message`)."""
    if stage_message(pipe, app, name, **options):
        pipe.execute()
        return
    pipe.execute()
    app.send_task(name, **options)


async def execute_with_message_async(pipe: Any, app: Celery, name: str, **options: Any) -> None:
    """`execute_with_message` on an asyncio pipeline: the round trip on the event loop. Only a
    transport other than ours publishes from a thread, after the writes."""
    if stage_message(pipe, app, name, **options):
        await pipe.execute()
        return
    await pipe.execute()
    await asyncio.to_thread(app.send_task, name, **options)


class RedisTransport(kombu_redis.Transport):
    Channel = _RedisChannel


class _SentinelChannel(_RedisChannel, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel (it asks the Sentinels where the primary is) with our channel's
    shared client, unacked bookkeeping and publishing on the caller's pipeline."""


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = _SentinelChannel


def create_celery(settings: Settings, *, include: tuple[str, ...] = ()) -> Celery:
    if not settings.redis_url:
        raise RuntimeError("GANFORGE_REDIS_URL is not set: start Redis first (make run does it for you)")
    app = Celery("ganforge", include=list(include))
    broker = celery_broker(settings.redis_url)  # redis+sentinel:// in kombu's terms
    transport = None  # rediss:// keeps kombu's own transport
    if broker.sentinel:
        transport = f"{__name__}:SentinelTransport"
    elif settings.redis_url.startswith("redis://"):
        transport = f"{__name__}:RedisTransport"
    app.conf.update(
        broker_url=broker.url,
        broker_transport=transport,
        broker_connection_retry_on_startup=True,
        # The API must answer 503 quickly when Redis is gone, not retry a publish for minutes.
        broker_transport_options={"visibility_timeout": 3600, "socket_timeout": 5, "socket_connect_timeout": 2,
                                  **broker.transport_options},
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
        task_ignore_result=True,  # job records in Redis are the results
        task_routes=task_routes(),
        task_default_queue=INFERENCE_QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=True,
        ganforge_settings=settings,
    )
    return app
