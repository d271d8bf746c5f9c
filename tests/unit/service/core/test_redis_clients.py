"""GANFORGE_REDIS_URL's two forms, read and translated for each library (service/core/redis_clients.py)."""

import pytest
import redis.asyncio.sentinel as aiosentinel
import redis.sentinel

from service.core.queue import create_celery
from service.core.redis_clients import (
    InvalidRedisUrl,
    SentinelAddress,
    async_client,
    celery_broker,
    parse_sentinel_url,
    sync_client,
)
from service.core.settings import Settings


def test_a_sentinel_url_names_hosts_service_db_and_password():
    address = parse_sentinel_url("redis+sentinel://:s3cr%40t@10.0.0.1:26379,sentinel-b:26380,[::1]/ganforge/2")
    assert address == SentinelAddress(
        sentinels=(("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26379)),
        service_name="ganforge", db=2, username=None, password="s3cr@t",
    )


def test_the_database_defaults_to_0_and_a_user_is_kept():
    address = parse_sentinel_url("redis+sentinel://app:pw@h:1/main")
    assert (address.db, address.username, address.password, address.service_name) == (0, "app", "pw", "main")
    assert parse_sentinel_url("redis+sentinel://h:1/main").password is None


def test_other_schemes_are_left_to_redis_py():
    assert parse_sentinel_url("redis://localhost:6379/0") is None


@pytest.mark.parametrize("url, names", [
    ("redis+sentinel://h:26379", "service"),
    ("redis+sentinel://h:26379/", "service"),
    ("redis+sentinel://h:26379/svc/zero", "'zero' is not a number"),
    ("redis+sentinel://h:26379/svc/0/extra", "/service_name[/db]"),
    ("redis+sentinel://h:1,,h:2/svc", "host is missing"),
    ("redis+sentinel://h:port/svc", "'h:port' is not host:port"),
])
def test_a_bad_sentinel_url_says_what_is_wrong(url, names):
    with pytest.raises(InvalidRedisUrl, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_sentinel_url(url)


def test_an_error_never_shows_the_password():
    with pytest.raises(InvalidRedisUrl) as raised:
        parse_sentinel_url("redis+sentinel://:hunter2@h:1")
    assert "hunter2" not in str(raised.value)


def test_an_unknown_scheme_is_refused():
    with pytest.raises(InvalidRedisUrl, match="redis\\+sentinel://"):
        sync_client("http://localhost:6379")


def test_celery_gets_kombus_own_sentinel_form():
    broker = celery_broker("redis+sentinel://:pw@a:1,b:2/ganforge/3")
    assert broker.url == "sentinel://:pw@a:1/3;sentinel://:pw@b:2/3"
    assert broker.sentinel and broker.transport_options["master_name"] == "ganforge"
    plain = celery_broker("redis://localhost:6379/0")
    assert (plain.url, plain.sentinel, plain.transport_options) == ("redis://localhost:6379/0", False, {})


def test_the_celery_app_uses_our_sentinel_transport():
    app = create_celery(Settings(redis_url="redis+sentinel://a:1,b:2/ganforge"))
    assert app.conf.broker_url == "sentinel://a:1/0;sentinel://b:2/0"
    assert app.conf.broker_transport == "service.core.queue:SentinelTransport"
    assert app.conf.broker_transport_options["master_name"] == "ganforge"
    assert app.conf.broker_transport_options["visibility_timeout"] == 3600  # ours kept beside it


def test_clients_ask_the_sentinels_for_the_primary():
    url = "redis+sentinel://:pw@a:1,b:2/ganforge/4"
    client = sync_client(url, socket_timeout=5)
    pool = client.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool) and pool.service_name == "ganforge"
    assert pool.connection_kwargs["db"] == 4 and pool.connection_kwargs["password"] == "pw"
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in pool.sentinel_manager.sentinels] == [("a", 1), ("b", 2)]
    aio = async_client(url, max_connections=7)
    assert isinstance(aio.connection_pool, aiosentinel.SentinelConnectionPool)
    assert aio.connection_pool.max_connections == 7 and aio.connection_pool.timeout == 30  # waits its turn
