"""A job's end announced with its record: the waiter answers without reading Redis (issue 25, item 2)."""

import asyncio
import json

from service.api.event_hub import EventHub
from service.core.job_store.codec import encode_fields
from service.core.jobs import Job, JobStatus, ModelRef


class _NoReads:
    redis = None

    def __init__(self):
        self.reads = []

    async def status(self, job_id):
        self.reads.append(("status", job_id))
        return JobStatus.queued

    async def get(self, job_id):
        self.reads.append(("get", job_id))
        return None


def _record(job_id: str) -> str:
    job = Job(id=job_id, kind="generate", status=JobStatus.succeeded, model=ModelRef(name="m", version=1),
              params={"n": 1}, created_at="2026-12-07T00:00:00+00:00", metrics={"x": 1})
    return json.dumps(encode_fields(job.model_dump(mode="json")))


def test_an_end_announced_before_the_wait_is_kept_for_the_job_this_process_queued():
    jobs = _NoReads()
    hub = EventHub(jobs)
    hub.expect("j1")
    hub._wake("j1", '"succeeded"', _record("j1"))
    job = asyncio.run(hub.wait("j1", 1.0))
    assert job.status == JobStatus.succeeded and job.metrics == {"x": 1}
    assert jobs.reads == []  # neither the status nor the record read back
    assert hub._expected == {}


def test_a_queued_job_is_waited_for_asleep_and_answered_from_its_end():
    jobs = _NoReads()
    hub = EventHub(jobs)

    async def run():
        hub.expect("j2")
        waiting = asyncio.create_task(hub.wait("j2", 2.0))
        await asyncio.sleep(0.01)
        hub._wake("j2", '"running"')
        hub._wake("j2", '"succeeded"', _record("j2"))
        return await waiting

    job = asyncio.run(run())
    assert job.status == JobStatus.succeeded
    assert jobs.reads == []
    assert hub._ends == {} and hub._expected == {}


def test_an_end_without_its_record_is_read_back_and_a_job_not_expected_reads_its_status():
    jobs = _NoReads()
    hub = EventHub(jobs)

    async def run():
        waiting = asyncio.create_task(hub.wait("j3", 0.2))
        await asyncio.sleep(0.01)
        hub._wake("j3", '"succeeded"')
        return await waiting

    assert asyncio.run(run()) is None
    assert jobs.reads[0] == ("status", "j3") and ("get", "j3") in jobs.reads


def test_expected_jobs_are_bounded_and_forgotten():
    hub = EventHub(_NoReads())
    hub.expect("a")
    hub.forget("a")
    assert hub._expected == {}
