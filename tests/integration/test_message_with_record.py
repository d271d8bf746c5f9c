"""`execute_with_message` on a real Redis server: a job's record and its Celery message land
together or not at all (HTTP-level: tests/integration/test_coalescing.py)."""

import base64
import json

import pytest
import redis
from celery import Celery

from service.core.queue import create_celery, execute_with_message
from service.core.settings import Settings


def url_of(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def bodies(client: redis.Redis, queue: str) -> list:
    return [json.loads(base64.b64decode(json.loads(m)["body"])) for m in client.lrange(queue, 0, -1)]


@pytest.mark.parametrize("transport", ["ours", "kombu's own"])
def test_a_record_and_its_message_land_together_or_not_at_all(store, transport):
    client = store.redis
    client.delete("record:good", "record:bad", f"q-{transport}")
    app = create_celery(Settings(redis_url=url_of(client))) if transport == "ours" else Celery(broker=url_of(client))
    queue = f"q-{transport}"

    pipe = client.pipeline()
    pipe.set("record:bad", "queued")
    pipe.execute_command("SET")  # refused when queued: EXEC aborts the whole transaction
    with pytest.raises(redis.exceptions.ResponseError):
        execute_with_message(pipe, app, "t.run", args=["bad"], queue=queue)
    assert not client.exists("record:bad") and client.llen(queue) == 0

    pipe = client.pipeline()
    pipe.set("record:good", "queued")
    execute_with_message(pipe, app, "t.run", args=["good"], queue=queue)
    assert client.get("record:good") == b"queued"
    assert [body[0] for body in bodies(client, queue)] == [["good"]]
