"""A run's checkpoints go up to a real bucket (moto's S3 server, a process of its own) on an
uploader thread: the training step does not wait for the upload, saves made while one is in
flight coalesce into one push of the newest, and a flush leaves the newest complete checkpoint
in the bucket. The slow bucket is our wrapper over the real one: each upload waits at a gate the
test opens, so what happens while an upload is in flight is asserted by order, not by time."""

import threading

import pytest
import torch
from torch import nn

from models.artifacts import StoreUnavailable, open_object_store
from models.artifacts.mirror import BackgroundPush, FolderMirror
from training.trainers.checkpoints import (
    checkpoint_stem,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

WAIT_S = 60  # a bound on waits for another thread, never a measure of speed


class GatedStore:
    """The real bucket, with uploads held at a gate and every upload's start and end logged."""

    def __init__(self, objects, log: list[str]):
        self.objects, self.url, self.log = objects, objects.url, log
        self.logged = threading.Condition()
        self.gate = threading.Event()
        self.upload_started = threading.Event()
        self.fail_uploads = 0  # the next this many uploads answer StoreUnavailable
        self.lists = 0

    def upload(self, key, source):
        self.log.append(f"upload started {key.rsplit('/', 1)[-1]}")
        self.upload_started.set()
        assert self.gate.wait(WAIT_S)
        if self.fail_uploads:
            self.fail_uploads -= 1
            raise StoreUnavailable("the bucket is away")
        self.objects.upload(key, source)
        with self.logged:
            self.log.append(f"uploaded {key.rsplit('/', 1)[-1]}")
            self.logged.notify_all()

    def wait_for_upload(self, name: str) -> bool:
        with self.logged:
            return self.logged.wait_for(lambda: f"uploaded {name}" in self.log, WAIT_S)

    def list(self, prefix=""):
        self.lists += 1
        return self.objects.list(prefix)

    def __getattr__(self, name):
        return getattr(self.objects, name)


def save(folder, step: int, keep: int = 1) -> None:
    """What a trainer's Checkpointer writes: tensors, then the JSON; older checkpoints pruned."""
    torch.manual_seed(step)
    net = nn.Linear(4, 4)
    save_checkpoint(checkpoint_stem(folder, step), {"net": net}, {}, {"step": step}, keep=keep)


@pytest.fixture
def bucket(s3_bucket):
    return open_object_store(f"{s3_bucket}/checkpoints")


def test_saves_go_on_while_a_push_is_in_flight_and_the_newest_reaches_the_bucket(bucket, tmp_path):
    log: list[str] = []
    slow = GatedStore(bucket, log)
    folder = tmp_path / "run"
    failures = []
    push = BackgroundPush(FolderMirror(slow, "job1", folder), failures.append)

    save(folder, 1)
    push.request()
    log.append("step 1 saved and requested")
    assert slow.upload_started.wait(WAIT_S)  # step 1's tensors are on their way, held at the gate
    for step in (2, 3):
        save(folder, step)
        push.request()
        log.append(f"step {step} saved and requested")
    slow.gate.set()
    assert slow.wait_for_upload("step-00000003.json")  # the push after the first, before any flush
    push.flush()
    log.append("flushed")

    # The training went on while the first upload was in flight: both later saves returned before it ended.
    first = log.index("upload started step-00000001.safetensors")
    assert first < log.index("step 2 saved and requested") < log.index("step 3 saved and requested")
    assert not [entry for entry in log[:log.index("step 3 saved and requested")] if entry.startswith("uploaded")]
    # Coalesced: steps 2 and 3 made one push after the first (and the flush one more), and step 2,
    # pruned by the time that push read the folder, never went up.
    assert slow.lists == 3
    assert not [entry for entry in log if "step-00000002" in entry]
    uploaded = [entry.removeprefix("uploaded ") for entry in log if entry.startswith("uploaded")]
    assert uploaded == ["step-00000003.safetensors", "step-00000003.json"]  # the JSON last
    assert log[-1] == "flushed" and failures == []

    assert sorted(bucket.list("job1/")) == ["job1/step-00000003.json", "job1/step-00000003.safetensors"]
    elsewhere = tmp_path / "fresh-host"
    FolderMirror(bucket, "job1", elsewhere).pull()
    stem = latest_checkpoint(elsewhere)
    net = nn.Linear(4, 4)
    assert stem == checkpoint_stem(elsewhere, 3) and load_checkpoint(stem, {"net": net}, {})["step"] == 3
    torch.manual_seed(3)
    assert torch.equal(net.weight, nn.Linear(4, 4).weight)


def test_a_failed_push_is_reported_and_retried_at_the_next_save(bucket, tmp_path):
    slow = GatedStore(bucket, [])
    slow.gate.set()
    slow.fail_uploads = 1
    folder = tmp_path / "run"
    failed = threading.Event()
    failures = []
    push = BackgroundPush(FolderMirror(slow, "job2", folder), lambda error: (failures.append(error), failed.set()))

    save(folder, 1)
    push.request()
    assert failed.wait(WAIT_S)  # reported, and nothing raised in the training's thread
    assert isinstance(failures[0], StoreUnavailable) and bucket.list("job2/") == {}
    save(folder, 2)
    push.request()
    push.flush()
    assert sorted(bucket.list("job2/")) == ["job2/step-00000002.json", "job2/step-00000002.safetensors"]
    assert len(failures) == 1


def test_a_failed_final_flush_is_raised_to_its_caller(bucket, tmp_path):
    slow = GatedStore(bucket, [])
    slow.gate.set()
    slow.fail_uploads = 10
    folder = tmp_path / "run"
    failures = []
    push = BackgroundPush(FolderMirror(slow, "job3", folder), failures.append)
    save(folder, 1)
    push.request()
    with pytest.raises(StoreUnavailable):
        push.flush()
    assert bucket.list("job3/") == {}
    push.flush()  # a second flush does nothing
    with pytest.raises(RuntimeError):
        push.request()  # the run is over
