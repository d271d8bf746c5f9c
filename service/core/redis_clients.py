"""Every Redis client of the service, made from the one `GANFORGE_REDIS_URL`.

Two forms of the URL:

    redis://[[user]:password@]host:port[/db]                          one server (rediss:// too)
    redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db]

The second names the Sentinels that watch a primary called `service_name` (`sentinel monitor
<service_name> ...` in their configuration); the password is the primary's and its replicas'
(the Sentinels themselves are asked without one). Each client then asks the Sentinels where the
primary is before it connects, and again after a connection fails, so it follows a failover by
itself: redis-py's `Sentinel(...).master_for(...)` for the sync and asyncio clients, kombu's
`sentinel://` transport (with `master_name`) for the Celery broker.

Nobody else builds a Redis client: the API, the workers, the rate limiter, the key store's
command line and the local stack all call this module.

Durability against losing the primary (`Replication`): with asynchronous replication a write
acknowledged by the primary can be missing on the replica promoted after it dies. So a
transaction on a client made with `replication` is followed, on its own connection, by
`WAIT <replicas> <timeout>`, and fails with `NotReplicated` when no replica confirmed it in time;
`Replication.wait` does the same after sync writes on `one_connection`. Only while the primary has replicas (or a
setting asks for some): one Redis pays nothing.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
import redis.asyncio as aioredis
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
# A Sentinel that is down must not stall finding the primary: ask the next one soon.
SENTINEL_TIMEOUTS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}


class InvalidRedisUrl(ValueError):
    """GANFORGE_REDIS_URL is not one of the two forms; the message says what is wrong."""


@dataclass(frozen=True)
class SentinelAddress:
    """A primary watched by Sentinels, as `redis+sentinel://` names it."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel_url(url: str) -> SentinelAddress | None:
    """The Sentinels and service a `redis+sentinel://` URL names; None for any other scheme
    (redis-py reads those itself). Raises InvalidRedisUrl naming what is wrong."""
    scheme, _, rest = url.partition("://")
    if scheme != SENTINEL_SCHEME:
        return None
    userinfo, at, hostlist_and_path = rest.rpartition("@")
    if not at:
        userinfo, hostlist_and_path = "", rest
    hostlist, _, path = hostlist_and_path.partition("/")
    username, password = None, None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else unquote(user)
        if not has_password:
            username = None  # `password@host`: a bare secret is a password, as redis-py reads it
    sentinels = tuple(_host_port(part, url) for part in hostlist.split(","))
    parts = [part for part in path.split("/") if part]
    if not parts:
        raise InvalidRedisUrl(f"{_redacted(url)}: name the Sentinels' service after the hosts, as in "
                              f"{SENTINEL_SCHEME}://host:26379,host:26380/mymaster")
    if len(parts) > 2:
        raise InvalidRedisUrl(f"{_redacted(url)}: the path is /service_name[/db], not {path!r}")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise InvalidRedisUrl(f"{_redacted(url)}: the database {parts[1]!r} is not a number")
        db = int(parts[1])
    return SentinelAddress(sentinels, unquote(parts[0]), db, username, password)


def _host_port(part: str, url: str) -> tuple[str, int]:
    if not part:
        raise InvalidRedisUrl(f"{_redacted(url)}: a Sentinel host is missing (host:port, comma separated)")
    try:
        parsed = urlsplit(f"//{part}")
        host, port = parsed.hostname, parsed.port
    except ValueError:
        raise InvalidRedisUrl(f"{_redacted(url)}: {part!r} is not host:port") from None
    if not host:
        raise InvalidRedisUrl(f"{_redacted(url)}: {part!r} is not host:port")
    return host, port or SENTINEL_PORT


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    userinfo, at, hosts = rest.rpartition("@")
    return f"{scheme}://***@{hosts}" if at else url


def check_url(url: str) -> None:
    """Raise InvalidRedisUrl unless `url` is a form this module builds clients for."""
    if parse_sentinel_url(url) is None and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise InvalidRedisUrl(f"{_redacted(url)}: use redis://host:port/db or "
                              f"{SENTINEL_SCHEME}://host:port[,host:port...]/service_name[/db]")


def describe(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    return _redacted(url)


# -- durability: WAIT for a replica ----------------------------------------------------------------


class NotReplicated(redis.TimeoutError):
    """Written on the primary, but no replica confirmed it within the timeout: if the primary
    died now, its promoted replica might not have it. A timeout, so wherever the API does not
    say more (jobs/submit.py does) the answer is the store's 503 with Retry-After."""


class Replication:
    """How many replicas a write must reach before it counts, and for how long to wait.

    `min_replicas` None: one while the primary has any connected (`INFO replication`, read again
    every `recheck_s` and whenever a WAIT falls short), else none. A number: that many, always.
    """

    def __init__(self, min_replicas: int | None = None, timeout_ms: int = 1000, recheck_s: float = 5.0):
        self.min_replicas = min_replicas
        self.timeout_ms = timeout_ms
        self.recheck_s = recheck_s
        self._connected = 0
        self._checked_at = float("-inf")

    def _stale(self) -> bool:
        return self.min_replicas is None and time.monotonic() - self._checked_at > self.recheck_s

    def _needed(self) -> int:
        return self.min_replicas if self.min_replicas is not None else min(1, self._connected)

    def _saw(self, info: dict) -> int:
        self._connected = int(info.get("connected_slaves", 0))
        self._checked_at = time.monotonic()
        return self._needed()

    # sync: one connection for the writes and their WAIT

    def needed(self, connection: redis.Redis) -> int:
        if self._stale():
            return self._saw(connection.info("replication"))
        return self._needed()

    def wait(self, connection: redis.Redis) -> None:
        """WAIT for the writes made on `connection` (`one_connection`); NotReplicated when too
        few replicas confirmed them in time."""
        needed = self.needed(connection)
        if needed == 0:
            return
        acked = connection.execute_command("WAIT", needed, self.timeout_ms)
        if acked < needed and (self.min_replicas is not None or self._saw(connection.info("replication")) > 0):
            raise NotReplicated(f"{acked} of {needed} replicas confirmed the write within {self.timeout_ms} ms")

    # asyncio: called by _WaitingPipeline on the connection that ran the transaction

    async def _wait_on(self, connection: aioredis.Connection) -> str | None:
        """WAIT on `connection`; None when enough replicas confirmed, else why not."""
        async def command(*args: Any) -> Any:
            await connection.send_command(*args)
            return await connection.read_response()

        if self._stale():
            self._saw(_info_fields(await command("INFO", "replication")))
        needed = self._needed()
        if needed == 0:
            return None
        acked = await command("WAIT", needed, self.timeout_ms)
        if acked >= needed:
            return None
        if self.min_replicas is None and self._saw(_info_fields(await command("INFO", "replication"))) == 0:
            return None  # the replica is gone (or this primary was just promoted): nothing to reach
        return f"{acked} of {needed} replicas confirmed the write within {self.timeout_ms} ms"


def _info_fields(raw: bytes | str) -> dict[str, str]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


@contextmanager
def one_connection(client: redis.Redis) -> Iterator[redis.Redis]:
    """A client on one connection of `client`'s pool for the block: writes made through it and a
    `Replication.wait` after them (WAIT counts the writes of its own connection only)."""
    pinned = client.client()
    try:
        yield pinned
    finally:
        pinned.close()


class _WaitingPipeline(aioredis.client.Pipeline):
    """A pipeline whose MULTI/EXEC is followed by WAIT on the same connection (`Replication`).
    The WAIT's outcome is raised after the pipeline's own retries, never inside them: retrying a
    transaction that did run would write it twice."""

    replication: Replication

    async def _execute_transaction(self, connection, commands, raise_on_error):
        response = await super()._execute_transaction(connection, commands, raise_on_error)
        try:
            self._shortfall = await self.replication._wait_on(connection)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            await connection.disconnect()  # an unread WAIT reply must not reach the next user
            self._shortfall = f"the WAIT for a replica failed: {error}"
        return response

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self._shortfall = None
        response = await super().execute(raise_on_error)
        if self._shortfall is not None:
            raise NotReplicated(self._shortfall)
        return response


class _ReplicatedRedis(aioredis.Redis):
    """An asyncio client whose transactions reach a replica before they return (`Replication`)."""

    replication: Replication

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> aioredis.client.Pipeline:
        if not transaction:
            return super().pipeline(transaction, shard_hint)
        pipe = _WaitingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.replication = self.replication
        return pipe


# -- clients ---------------------------------------------------------------------------------------


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A redis-py client on the primary `url` names; `options` are redis-py's connection options
    (socket_timeout, health_check_interval, max_connections, ...)."""
    address = parse_sentinel_url(url)
    if address is None:
        check_url(url)
        return redis.Redis.from_url(url, **options)
    sentinel = redis.sentinel.Sentinel(address.sentinels, sentinel_kwargs=SENTINEL_TIMEOUTS)
    return sentinel.master_for(address.service_name, db=address.db, username=address.username,
                               password=address.password, **options)


class _BlockingSentinelPool(aiosentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Sentinel's pool (the primary's address asked of the Sentinels) that, like the API's
    single-server pool, makes a caller past `max_connections` wait its turn instead of failing."""


def async_client(url: str, *, max_connections: int = 128, timeout: float = 30,
                 replication: Replication | None = None, **options: Any) -> aioredis.Redis:
    """A `redis.asyncio` client on the primary `url` names, on a pool of at most `max_connections`
    where a caller waits up to `timeout` s for a connection (an asyncio wait: no thread). With
    `replication`, its transactions reach a replica before they return."""
    address = parse_sentinel_url(url)
    redis_class: type[aioredis.Redis] = aioredis.Redis
    if replication is not None:
        redis_class = type("ReplicatedRedis", (_ReplicatedRedis,), {"replication": replication})
    if address is None:
        check_url(url)
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout,
                                                        **options)
        return redis_class(connection_pool=pool)
    sentinel = aiosentinel.Sentinel(address.sentinels, sentinel_kwargs=SENTINEL_TIMEOUTS)
    return sentinel.master_for(address.service_name, redis_class=redis_class,
                               connection_pool_class=_BlockingSentinelPool, db=address.db,
                               username=address.username, password=address.password,
                               max_connections=max_connections, timeout=timeout, **options)


@dataclass(frozen=True)
class BrokerConfig:
    """What Celery needs to reach the broker: its URL (kombu's own form) and transport options
    to add to the app's."""

    url: str
    sentinel: bool
    transport_options: dict[str, Any]


def celery_broker(url: str) -> BrokerConfig:
    """Our URL in kombu's terms: `redis+sentinel://a:1,b:2/name/3` is kombu's
    `sentinel://a:1/3;sentinel://b:2/3` with the transport option `master_name: name`."""
    address = parse_sentinel_url(url)
    if address is None:
        check_url(url)
        return BrokerConfig(url, sentinel=False, transport_options={})
    auth = ""
    if address.password is not None:
        auth = f"{_quote(address.username or '')}:{_quote(address.password)}@"
    broker = ";".join(f"sentinel://{auth}{_netloc(host)}:{port}/{address.db}" for host, port in address.sentinels)
    return BrokerConfig(broker, sentinel=True, transport_options={
        "master_name": address.service_name, "sentinel_kwargs": dict(SENTINEL_TIMEOUTS)})


def _quote(text: str) -> str:
    return quote(text, safe="")


def _netloc(host: str) -> str:
    return f"[{host}]" if ":" in host else host
