"""The job store's compare-and-set transitions, events and leases, on a real Redis server."""

import threading

from service.core import keys
from service.core.job_store import JobStore, output_entries, utcnow
from service.core.jobs import Job, JobStatus


def new_job(store: JobStore, job_id: str) -> Job:
    job = Job(id=job_id, kind="generate", status=JobStatus.queued, params={"n": 1}, created_at=utcnow())
    store.create(job)
    return job


def test_a_transition_happens_only_from_an_allowed_status(store):
    new_job(store, "a")
    assert store.transition("a", {JobStatus.queued}, JobStatus.canceled) == JobStatus.queued
    # the worker arrives late: its start loses, and the job stays canceled
    assert store.transition("a", {JobStatus.queued}, JobStatus.running) == JobStatus.canceled
    assert store.get("a").status == JobStatus.canceled
    assert store.transition("missing", {JobStatus.queued}, JobStatus.running) is None


def test_only_one_of_many_racing_starters_wins(store):
    new_job(store, "race")
    wins = []

    def start():
        if store.transition("race", {JobStatus.queued}, JobStatus.running) == JobStatus.queued:
            wins.append(1)

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1


def test_every_change_is_an_event_and_wait_returns_at_the_end(store):
    new_job(store, "w")
    threading.Timer(0.2, lambda: store.transition("w", {JobStatus.queued}, JobStatus.succeeded)).start()
    assert store.wait("w", timeout_s=5).status == JobStatus.succeeded
    assert [data for _, event, data in store.events("w")] == ["queued", "succeeded"]


def test_wait_gives_up_at_its_timeout(store):
    new_job(store, "slow")
    assert store.wait("slow", timeout_s=0.2).status == JobStatus.queued


def test_leases_are_exclusive_and_only_the_holder_renews_or_releases(store):
    assert store.acquire_lease("L", "one", 10)
    assert not store.acquire_lease("L", "two", 10)
    assert not store.renew_lease("L", "two", 10)
    store.release_lease("L", "two")
    assert not store.acquire_lease("L", "two", 10)
    store.release_lease("L", "one")
    assert store.acquire_lease("L", "two", 10)


def test_cache_entries_whose_blobs_are_gone_are_misses(store):
    outputs = store.put_outputs("j", [("0.png", b"pixels", "image/png")])
    store.cache_put("digest", "j", outputs, {})
    assert store.cache_get("digest")["outputs"][0]["sha256"] == outputs[0].sha256
    store.redis.delete(keys.blob(outputs[0].sha256))
    assert store.cache_get("digest") is None


def test_a_message_s_jobs_are_leased_and_started_in_one_round_trip_and_released_in_one(store):
    for job_id in ("m1", "m2", "m3", "m4"):
        new_job(store, job_id)
    store.transition("m3", {JobStatus.queued}, JobStatus.canceled)
    assert store.acquire_lease("m2", "someone-else", 30)
    assert store.acquire_lease("m4", "me", 30)  # a retried round trip: the owner keeps its own lease
    answers = store.take_many(["m1", "m2", "m3", "m4"], "me", 30, started_at=utcnow())
    assert answers[1] is None and store.get("m2").status == JobStatus.queued  # someone else's: untouched
    assert [answer[0] for answer in (answers[0], answers[2], answers[3])] == [JobStatus.queued, JobStatus.canceled,
                                                                               JobStatus.queued]
    assert answers[0][1].status == JobStatus.running and store.get("m3").status == JobStatus.canceled
    assert store.redis.sismember(keys.RUNNING, "m1") and not store.redis.sismember(keys.RUNNING, "m3")
    assert [store.redis.get(keys.lease(j)) for j in ("m1", "m2", "m3", "m4")] == [b"me", b"someone-else", b"me", b"me"]
    assert 0 < store.redis.ttl(keys.lease("m1")) <= 30
    store.release_leases(["m1", "m2", "m3", "m4"], "me")  # only its own: m2's holder keeps it
    assert store.leased(["m1", "m2", "m3", "m4"]) == [False, True, False, False]


def test_pipelined_scripts_survive_a_redis_that_lost_its_script_cache(store):
    new_job(store, "flushed")
    store.redis.script_flush()  # what a restarted Redis has: no scripts loaded
    assert store.take_many(["flushed"], "me", 30, started_at=utcnow())[0][0] == JobStatus.queued
    store.redis.script_flush()
    items = [("0.png", b"picture", "image/png")]
    outputs = output_entries("flushed", items)
    assert store.finish("flushed", JobStatus.succeeded, outputs=outputs,
                        before=lambda pipe: store.stage_blobs(pipe, outputs, items)) == JobStatus.running
    assert store.get("flushed").status == JobStatus.succeeded and store.get_blob(outputs[0].sha256) == b"picture"
