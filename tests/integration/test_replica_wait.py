"""WAIT for a replica (service/core/redis_clients.Replication) on a real primary, replica and
Sentinels: writes reach the replica before they return, a frozen replica makes them fail with
NotReplicated, a replica gone for good is no longer waited for, and one Redis never waits."""

import asyncio
import signal
import time

import pytest
import redis

from service.core.redis_clients import (
    NotReplicated,
    Replication,
    async_client,
    one_connection,
    sync_client,
)
from service.local.redis_server import start_redis, start_sentinel_group

pytestmark = pytest.mark.integration


@pytest.fixture
def group(tmp_path):
    group = start_sentinel_group(tmp_path, replicas=1)
    yield group
    for replica in group.replicas:
        replica.process.send_signal(signal.SIGCONT)
    group.stop()


def waits_on(server) -> int:
    return redis.Redis(port=server.port).info("commandstats").get("cmdstat_wait", {}).get("calls", 0)


async def transaction(client, key: str) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.set(key, "1")
    await pipe.execute()


def test_writes_wait_for_the_replica_and_fail_when_it_is_frozen(group):
    replica = redis.Redis(port=group.replicas[0].port)
    replication = Replication(timeout_ms=300)

    async def run() -> None:
        client = async_client(group.url, replication=replication)
        await transaction(client, "job-a")
        assert replica.get("job-a") == b"1"  # on the replica when the transaction returned
        group.replicas[0].process.send_signal(signal.SIGSTOP)
        began = time.monotonic()
        with pytest.raises(NotReplicated, match="0 of 1 replicas"):
            await transaction(client, "job-b")
        assert 0.25 < time.monotonic() - began < 3
        await client.aclose()

    asyncio.run(run())
    sync = sync_client(group.url)
    with pytest.raises(NotReplicated), one_connection(sync) as connection:
        connection.set("end", "1")
        replication.wait(connection)
    group.replicas[0].process.send_signal(signal.SIGCONT)
    with one_connection(sync) as connection:
        connection.set("end", "2")
        replication.wait(connection)
    assert replica.get("end") == b"2"
    assert waits_on(group.primary) == 4


def test_a_replica_gone_for_good_is_not_waited_for(group):
    replication = Replication(timeout_ms=300)
    sync = sync_client(group.url)
    assert replication.needed(sync) == 1
    group.replicas[0].kill()
    deadline = time.monotonic() + 10
    while sync.info("replication")["connected_slaves"] and time.monotonic() < deadline:
        time.sleep(0.1)
    with one_connection(sync) as connection:  # the cached count says 1; the WAIT falls short, INFO says 0
        connection.set("alone", "1")
        replication.wait(connection)
    assert replication.needed(sync) == 0


def test_one_redis_never_waits(tmp_path):
    server = start_redis(tmp_path)
    try:
        async def run() -> None:
            client = async_client(server.url, replication=Replication())
            for n in range(3):
                await transaction(client, f"job-{n}")
            await client.aclose()

        asyncio.run(run())
        assert waits_on(server) == 0
        strict = Replication(min_replicas=1, timeout_ms=100)  # GANFORGE_REDIS_MIN_REPLICAS=1 without a replica
        with pytest.raises(NotReplicated), one_connection(redis.Redis.from_url(server.url)) as connection:
            connection.set("x", "1")
            strict.wait(connection)
    finally:
        server.stop()
