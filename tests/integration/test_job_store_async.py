"""The API's async side of the job store and the workers' sync side share one layout: what one
writes, the other reads (a real redis-server, both clients)."""

import asyncio

import pytest
import redis.asyncio as aioredis

from service.core import keys
from service.core.job_store import AsyncJobStore, output_entries, utcnow
from service.core.jobs import Job, JobStatus, ModelRef


def async_store(store) -> AsyncJobStore:
    kwargs = store.redis.connection_pool.connection_kwargs
    client = aioredis.Redis(host=kwargs["host"], port=kwargs["port"])
    return AsyncJobStore(client, job_ttl_s=store.job_ttl_s, output_ttl_s=store.output_ttl_s)


def new_job(job_id: str) -> Job:
    return Job(id=job_id, kind="generate", status=JobStatus.queued, model=ModelRef(name="m", version=1),
               params={"n": 1}, created_at=utcnow(), owner="alice")


@pytest.mark.integration
def test_a_job_created_on_the_event_loop_is_the_workers_job_and_back(store):
    async def run():
        jobs = async_store(store)
        pipe = jobs.redis.pipeline(transaction=True)
        jobs.stage_create(pipe, new_job("async-1"), task={"name": "t", "queue": "q", "kwargs": {}})
        await pipe.execute()
        assert store.get("async-1") == new_job("async-1").model_copy(update={"created_at": store.get("async-1").created_at})
        assert store.get_task("async-1") == {"name": "t", "queue": "q", "kwargs": {}}
        found, started = store.start("async-1")
        assert found == JobStatus.queued and started.status == JobStatus.running
        assert await jobs.status("async-1") == JobStatus.running
        assert await jobs.owner_and_status("async-1") == ("alice", JobStatus.running)
        assert await jobs.owner_and_status("no-such-job") == (None, None)
        assert (await jobs.get("async-1")) == store.get("async-1")
        assert [event for _, event, _ in await jobs.read("async-1", "0-0")] == ["status", "status"]
        assert await jobs.read("async-1", "0-0") == store.events("async-1")
        await jobs.redis.aclose()

    asyncio.run(run())


@pytest.mark.integration
def test_blobs_and_the_cache_written_by_one_side_are_read_by_the_other(store):
    async def run():
        jobs = async_store(store)
        pipe = jobs.redis.pipeline(transaction=False)
        digest = jobs.stage_blob(pipe, b"input bytes")
        await pipe.execute()
        assert store.get_blob(digest) == b"input bytes"

        items = [("0.png", b"picture", "image/png")]
        outputs = store.put_outputs("job-a", items)
        store.cache_put("digest-a", "job-a", outputs, {"ms": 1.0}, owner="alice")
        reads = jobs.redis.pipeline(transaction=False)
        jobs.stage_cache_get(reads, "digest-a")
        (raw,) = await reads.execute()
        entry = store.cache_get("digest-a")
        assert raw is not None and entry["outputs"] == [o.model_dump() for o in outputs]
        assert await jobs.cache_check(entry) == (True, None)
        assert await jobs.cache_check(entry, fetch=outputs[0].sha256) == (True, b"picture")
        assert await jobs.get_blob(outputs[0].sha256) == b"picture"
        store.redis.delete(keys.blob(outputs[0].sha256))  # evicted
        assert await jobs.cache_check(entry, fetch=outputs[0].sha256) == (False, None)
        assert output_entries("job-a", items) == outputs
        await jobs.redis.aclose()

    asyncio.run(run())
