"""A model changed: every API and worker process hears it at once, by Redis pub/sub.

Each process answers model refs from memory (models/store.py's ManifestCache; from a bucket that
saves three round trips a request). A registry write (a version registered or deleted, an alias
moved, metrics or a variant added) drops the writer's own answers about that model and, once the
write is visible to every reader, calls the store's `on_change`: here, a PUBLISH of the model's
name on `keys.MODEL_CHANGES_CHANNEL`. Every process follows that channel on a thread and a
connection of its own and drops its answers about each name it hears, so its next request reads
the registry again.

Pub/sub is best effort: what is published while a subscription is away is lost to it. So each
time the subscription is confirmed (at start and after every reconnect) the process drops every
answer, and GANFORGE_MANIFEST_FRESH_S bounds an answer's age while the channel is down. A publish
that fails is logged, not raised: the write itself has landed.
"""

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import redis

from service.core import keys
from service.core.redis_clients import sync_client

log = logging.getLogger(__name__)

POLL_S = 1.0  # how often the follower looks up from the channel to see whether it should stop
MAX_BACKOFF_S = 5.0


class ChangingRegistry(Protocol):
    """What this module needs of a model store (models/store.py, which the kernel does not import)."""

    on_change: Callable[[str], None] | None

    def invalidate(self, name: str | None = None) -> None: ...


class ModelChanges:
    """This process's end of the channel: publishes its registry's changes and follows everyone's."""

    def __init__(self, registry: ChangingRegistry, redis_url: str, publisher: redis.Redis):
        self.registry = registry
        self.publisher = publisher
        # Its own client: a subscribed connection serves nothing else, and its pool is not the
        # one the requests wait on.
        self._listener = sync_client(redis_url, socket_connect_timeout=2, socket_keepalive=True,
                                     health_check_interval=10)
        self.following = threading.Event()  # set while the subscription is confirmed
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="model-changes", daemon=True)

    def start(self) -> "ModelChanges":
        self.registry.on_change = self.publish
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(POLL_S + 1)
        self._listener.close()

    def publish(self, name: str) -> None:
        try:
            self.publisher.publish(keys.MODEL_CHANGES_CHANNEL, name)
        except (redis.RedisError, OSError) as error:
            log.warning("could not tell the other processes that model %r changed (%s); they read it again "
                        "within GANFORGE_MANIFEST_FRESH_S", name, error)

    def _follow(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                with self._listener.pubsub() as pubsub:
                    pubsub.subscribe(keys.MODEL_CHANGES_CHANNEL)
                    while not self._stopping.is_set():
                        message = pubsub.get_message(timeout=POLL_S)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":  # also after redis-py reconnected by itself
                            self.registry.invalidate()  # whatever was published while we were away
                            self.following.set()
                            backoff = 0.1
                        elif message["type"] == "message":
                            self.registry.invalidate(message["data"].decode())
            except (redis.RedisError, OSError) as error:
                # Said once an outage (then at debug level): a Redis away for long is not a log line each 5 s.
                log.log(logging.INFO if self.following.is_set() or backoff == 0.1 else logging.DEBUG,
                        "model-change subscription lost (%s); again in %.1f s", error, backoff)
                self.following.clear()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception:  # a bug must not end the thread: the cache would go stale unheard
                self.following.clear()
                log.exception("model-change follower failed; again in %.1f s", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        self.following.clear()
