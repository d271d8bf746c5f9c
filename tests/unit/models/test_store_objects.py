"""The object-store primitives behave alike on a local folder and on a real S3 server (moto's,
as a process of its own): the same tests, one parametrized fixture."""

import threading

import pytest

from models.artifacts import (
    ObjectMissing,
    PreconditionFailed,
    StoreUnavailable,
    open_object_store,
)


@pytest.fixture(params=["folder", "s3"])
def objects(request, tmp_path):
    if request.param == "folder":
        return open_object_store(str(tmp_path / "objects"))
    bucket = request.getfixturevalue("s3_bucket")
    return open_object_store(f"{bucket}/some/prefix")


def test_put_get_list_delete(objects, tmp_path):
    etag = objects.put("a/b.json", b"{}")
    got = objects.get("a/b.json")
    assert got.data == b"{}" and got.etag == etag
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 300_000)
    objects.upload("a/c/big.bin", source)
    assert objects.list() == {"a/b.json": 2, "a/c/big.bin": 300_000}
    assert objects.list("a/c/") == {"a/c/big.bin": 300_000}
    objects.download("a/c/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    objects.delete("a/b.json")
    objects.delete("a/b.json")  # already gone: no error
    with pytest.raises(ObjectMissing):
        objects.get("a/b.json")
    with pytest.raises(ObjectMissing):
        objects.download("nothing/here", tmp_path / "none")
    assert list(objects.list()) == ["a/c/big.bin"]


def test_put_if_absent_lets_one_writer_win(objects):
    objects.put_if_absent("m/1/manifest.json", b"first")
    with pytest.raises(PreconditionFailed):
        objects.put_if_absent("m/1/manifest.json", b"second")
    assert objects.get("m/1/manifest.json").data == b"first"


def test_put_if_match_fails_when_someone_wrote_in_between(objects):
    etag = objects.put("aliases.json", b"v1")
    newer = objects.put_if_match("aliases.json", b"v2", etag)
    assert newer != etag
    with pytest.raises(PreconditionFailed):
        objects.put_if_match("aliases.json", b"stale", etag)
    assert objects.get("aliases.json").data == b"v2"
    objects.delete("aliases.json")
    with pytest.raises(PreconditionFailed):
        objects.put_if_match("aliases.json", b"v3", newer)


def test_racing_conditional_writers_never_both_win(objects):
    wins, losses = [], []

    def write(i: int) -> None:
        try:
            objects.put_if_absent("race/claim.json", str(i).encode())
            wins.append(i)
        except PreconditionFailed:
            losses.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1 and len(losses) == 7
    assert objects.get("race/claim.json").data == str(wins[0]).encode()


def test_keys_cannot_leave_the_folder(tmp_path):
    objects = open_object_store(str(tmp_path / "objects"))
    for bad in ("../escape", "a/../../b", "", ".hidden/x"):
        with pytest.raises(ValueError):
            objects.put(bad, b"x")


def test_a_mirrored_folder_goes_up_json_last_and_comes_back_elsewhere(objects, tmp_path):
    from models.artifacts.mirror import FolderMirror

    here = tmp_path / "host-a"
    here.mkdir()
    (here / "step-00000010.safetensors").write_bytes(b"t" * 1000)
    (here / "step-00000010.json").write_text('{"step": 10}')
    mirror = FolderMirror(objects, "checkpoints/job1", here)
    uploaded, upload = [], objects.upload
    objects.upload = lambda key, source: (uploaded.append(key), upload(key, source))
    assert mirror.push() == 2 and mirror.push() == 0  # nothing changed: nothing goes up again
    assert uploaded == ["checkpoints/job1/step-00000010.safetensors", "checkpoints/job1/step-00000010.json"]
    (here / "step-00000020.safetensors").write_bytes(b"u" * 1000)
    (here / "step-00000020.json").write_text('{"step": 20}')
    (here / "step-00000010.safetensors").unlink()  # the trainer pruned the older checkpoint
    (here / "step-00000010.json").unlink()
    assert mirror.push() == 2
    assert sorted(objects.list("checkpoints/")) == ["checkpoints/job1/step-00000020.json",
                                                    "checkpoints/job1/step-00000020.safetensors"]
    elsewhere = FolderMirror(objects, "checkpoints/job1", tmp_path / "host-b" / "job1")
    assert elsewhere.pull() == 2 and elsewhere.pull() == 0
    assert (tmp_path / "host-b" / "job1" / "step-00000020.safetensors").read_bytes() == b"u" * 1000
    assert FolderMirror(objects, "checkpoints/other", tmp_path / "none").pull() == 0
    assert not (tmp_path / "none").exists()


def test_a_bucket_that_does_not_exist_is_an_unavailable_store_naming_it(s3_bucket):
    """A misconfigured bucket is the operator's to mend: the API answers 503 artifacts-unavailable
    with what the store said, never a 500."""
    objects = open_object_store(f"{s3_bucket}-missing/prefix")
    for attempt in (lambda: objects.get("x.json"), lambda: objects.put("x.json", b"{}"), lambda: objects.list()):
        with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
            attempt()
