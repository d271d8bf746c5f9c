"""A model change reaches every process by Redis pub/sub (issue 24, item 2;
service/core/model_changes.py): stores on one bucket (real S3 server, real Redis) that keep their
answers for 10 minutes still see a new version, a moved alias, new metrics and a deleted version
within 2 s; a store that follows no channel keeps its stale answer (so the channel did it); and a
subscription that comes back after Redis restarts drops every answer it kept.
"""

import time

import pytest

from models.artifacts import open_object_store
from models.artifacts.cache import ModelFileCache
from models.artifacts.model_store import ObjectModelStore
from models.manifest import Manifest
from models.store import UnknownModel
from service.core.model_changes import ModelChanges
from service.core.redis_clients import sync_client
from service.local.redis_server import start_redis
from tests.unit.models.test_manifest_cache import register

pytestmark = pytest.mark.integration

WITHIN_S = 2.0
FRESH_S = 600.0  # far past the test: only an invalidation makes a store read the bucket again


@pytest.fixture
def redis_server(tmp_path):
    server = start_redis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_bucket) -> str:
    return f"{s3_bucket}/deploy/models"


def store(bucket: str, tmp_path, name: str) -> ObjectModelStore:
    """A registry as one process holds it (its own model-file cache)."""
    return ObjectModelStore(open_object_store(bucket), ModelFileCache(tmp_path / name, 1 << 20), fresh_s=FRESH_S)


def following(registry: ObjectModelStore, redis_url: str) -> ModelChanges:
    changes = ModelChanges(registry, redis_url, sync_client(redis_url)).start()
    assert changes.following.wait(10), "the subscription was not confirmed"
    return changes


def seen_within(registry: ObjectModelStore, ref: str, check, wait_s: float) -> float:
    """Seconds until `check(registry.resolve_cached(ref))` holds (an UnknownModel answer is None),
    polled; fails past `wait_s`."""
    def answer() -> Manifest | None:
        try:
            return registry.resolve_cached(ref)
        except UnknownModel:
            return None

    start = time.monotonic()
    while not check(answer()):
        assert time.monotonic() - start < wait_s, f"{ref} still {answer()!r} after {wait_s} s"
        time.sleep(0.01)
    return time.monotonic() - start


def gone(manifest: Manifest | None) -> bool:
    return manifest is None


def test_every_write_reaches_the_other_processes_within_2_s(redis_server, bucket, tmp_path):
    writer, reader, unsubscribed = (store(bucket, tmp_path, name) for name in ("writer", "reader", "deaf"))
    changes = [following(writer, redis_server.url), following(reader, redis_server.url)]
    try:
        register(writer, b"one", tmp_path, aliases=("latest", "stable"))
        for registry in (reader, unsubscribed):  # both remember version 1 under every ref
            assert registry.resolve_cached("toy").version == 1
            assert registry.resolve_cached("toy:stable").version == 1
            assert "fid" not in registry.resolve_cached("toy:1").metrics
        took = {}

        register(writer, b"two", tmp_path)
        took["new version"] = seen_within(reader, "toy", lambda m: m.version == 2, WITHIN_S)
        assert writer.resolve_cached("toy").version == 2  # the writer reads its own write at once

        writer.set_alias("toy", "stable", 2)
        took["alias moved"] = seen_within(reader, "toy:stable", lambda m: m.version == 2, WITHIN_S)

        writer.update_metrics("toy", 1, {"fid": 12.5})
        took["metrics"] = seen_within(reader, "toy:1", lambda m: m.metrics.get("fid") == 12.5, WITHIN_S)

        writer.set_alias("toy", "stable", 1)
        writer.set_alias("toy", "latest", 1)
        seen_within(reader, "toy", lambda m: m.version == 1, WITHIN_S)
        assert reader.resolve_cached("toy:2").version == 2
        writer.delete_version("toy", 2)
        took["version deleted"] = seen_within(reader, "toy:2", gone, WITHIN_S)
        print("\npropagation through Redis pub/sub: " + ", ".join(f"{what} {s * 1000:.0f} ms"
                                                                    for what, s in took.items()))

        # The store that follows no channel still answers what it read first, ten minutes' worth.
        assert unsubscribed.resolve_cached("toy").version == 1
        assert unsubscribed.resolve_cached("toy:stable").version == 1
        assert "fid" not in unsubscribed.resolve_cached("toy:1").metrics
        unsubscribed.invalidate("toy")  # what a message would have done
        assert unsubscribed.resolve_cached("toy:1").metrics["fid"] == 12.5
    finally:
        for follower in changes:
            follower.stop()


def test_a_publish_while_redis_is_down_is_logged_and_the_write_stands(redis_server, bucket, tmp_path, caplog):
    writer = store(bucket, tmp_path, "writer")
    changes = following(writer, redis_server.url)
    try:
        redis_server.stop()
        assert register(writer, b"one", tmp_path) == 1
        assert writer.resolve_cached("toy").version == 1
        assert "could not tell the other processes that model 'toy' changed" in caplog.text
    finally:
        changes.stop()


def test_a_subscription_back_after_a_redis_restart_drops_every_answer(redis_server, bucket, tmp_path):
    reader, silent_writer = store(bucket, tmp_path, "reader"), store(bucket, tmp_path, "writer")
    register(silent_writer, b"one", tmp_path)
    changes = following(reader, redis_server.url)
    try:
        assert reader.resolve_cached("toy").version == 1
        register(silent_writer, b"two", tmp_path)  # no on_change: a message lost, as while disconnected
        time.sleep(0.5)
        assert reader.resolve_cached("toy").version == 1

        port = redis_server.port
        redis_server.kill()
        restarted = start_redis(tmp_path / "redis-again", port=port)
        try:
            seen_within(reader, "toy", lambda m: m.version == 2, 15)  # the follower's backoff stays under 5 s
            assert changes.following.wait(5)
        finally:
            restarted.stop()
    finally:
        changes.stop()
