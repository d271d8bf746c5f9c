"""One call per state change (issue 25, item 2), on a real redis-server: a new job's writes as one
script call, a job's end announced with its record, its outputs written and its lease let go of
in the call that ends it."""

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from service.core import keys
from service.core.job_store import AtomicBatch, SyncAtomicBatch, utcnow
from service.core.job_store.codec import stage_create
from service.core.jobs import Job, JobStatus, ModelRef


def new_job(job_id: str) -> Job:
    return Job(id=job_id, kind="generate", status=JobStatus.queued, model=ModelRef(name="m", version=1),
               params={"n": 1}, created_at=utcnow(), owner="alice")


def async_client(store) -> aioredis.Redis:
    kwargs = store.redis.connection_pool.connection_kwargs
    return aioredis.Redis(host=kwargs["host"], port=kwargs["port"])


@pytest.mark.integration
def test_a_batch_lands_every_write_in_one_script_call(store):
    async def run():
        client = async_client(store)
        batch = AtomicBatch(client)
        stage_create(batch, new_job("batch-1"), 60, {"name": "t", "queue": "q", "kwargs": {}})
        batch.lpush("gf-test:queue", b"\x00message")
        await batch.execute()
        await client.aclose()
    store.redis.delete("gf-test:queue")
    asyncio.run(run())
    assert store.get("batch-1").status == JobStatus.queued
    assert store.get_task("batch-1") == {"name": "t", "queue": "q", "kwargs": {}}
    assert store.redis.lrange("gf-test:queue", 0, -1) == [b"\x00message"]
    assert 0 < store.redis.ttl(keys.job("batch-1")) <= 60


@pytest.mark.integration
def test_a_sync_batch_chains_as_a_pipeline_and_a_refused_write_is_redis_own_error(store):
    batch = SyncAtomicBatch(store.redis)
    batch.zadd("gf-test:index", {"tag": 1.0}).hset("gf-test:hash", "tag", "x").execute()
    assert store.redis.hget("gf-test:hash", "tag") == b"x"
    refused = SyncAtomicBatch(store.redis)
    refused.lpush("gf-test:hash", "z")
    with pytest.raises(Exception, match="WRONGTYPE"):
        refused.execute()


@pytest.mark.integration
def test_an_end_is_announced_with_its_record_and_lets_go_of_the_lease(store):
    store.create(new_job("end-1"), task={"name": "t", "queue": "q", "kwargs": {}})
    [(found, job)] = store.take_many(["end-1"], "me", 30, started_at=utcnow())
    assert found == JobStatus.queued and job.status == JobStatus.running
    pubsub = store.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.EVENTS_CHANNEL)
    def outputs(pipe):  # what a task's result writes ahead of its end, in the same call
        pipe.set("gf-test:output-of-end-1", b"\x89PNG\x00bytes", ex=60)

    assert store.finish("end-1", JobStatus.succeeded, release="me", before=outputs, finished_at=utcnow(),
                        metrics={"x": 1}) == JobStatus.running
    assert not store.redis.exists(keys.lease("end-1"))
    assert store.redis.get("gf-test:output-of-end-1") == b"\x89PNG\x00bytes"
    assert 0 < store.redis.ttl("gf-test:output-of-end-1") <= 60
    message = None
    for _ in range(50):
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            break
    pubsub.close()
    job_id, status, record = message["data"].decode().split(" ", 2)
    assert (job_id, json.loads(status)) == ("end-1", "succeeded")
    announced = Job.model_validate({k: json.loads(v) for k, v in json.loads(record).items()})
    assert announced == store.get("end-1")
