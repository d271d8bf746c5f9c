"""Uploaded datasets in a bucket on a real S3 server (moto's, a process of its own): built on
one host, listed, read and trained from on another that shares no folder, deleted for both."""

import pytest
from archives import classes_files, zip_bytes

from models.artifacts import open_object_store
from training.data.archive_check import ArchiveRejected
from training.data.bucket_store import BucketDatasetStore
from training.data.store import UnknownDataset


def host(root, url: str) -> BucketDatasetStore:
    return BucketDatasetStore(root, open_object_store(f"{url}/datasets"), builtins={})


def test_a_dataset_made_on_one_host_is_read_on_another(s3_bucket, tmp_path):
    api_host, training_host = host(tmp_path / "a", s3_bucket), host(tmp_path / "b", s3_bucket)
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(classes_files()))
    record = api_host.create(archive, "classes", name="pets", filename="pets.zip")

    keys = api_host.objects.list()
    assert f"{record.id}/dataset.json" in keys and f"{record.id}/preview.png" in keys
    assert f"{record.id}/files/cat/0.png" in keys
    assert [r.id for r in training_host.records()] == [record.id]
    assert training_host.get(record.id) == record
    assert training_host.preview(record.id).read_bytes() == (tmp_path / "a" / record.id / "preview.png").read_bytes()
    assert not (tmp_path / "b" / record.id).exists()  # a listing and a preview pull no images

    images, labels, names = training_host.load_images(record.id, 8, 3)
    assert images.shape == (6, 3, 8, 8) and labels.tolist() == [0, 0, 0, 1, 1, 1] and names == ["cat", "dog"]
    assert (tmp_path / "b" / record.id / "files" / "dog" / "2.png").is_file()

    api_host.delete(record.id)
    assert api_host.objects.list() == {}
    with pytest.raises(UnknownDataset):
        training_host.get(record.id)
    assert not (tmp_path / "b" / record.id).exists()  # its stale copy is dropped too
    assert training_host.records() == []


def test_a_refused_archive_leaves_nothing_in_the_bucket(s3_bucket, tmp_path):
    store = host(tmp_path / "a", s3_bucket)
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes({"cat/0.png": b"not an image"}))
    with pytest.raises(ArchiveRejected):
        store.create(archive, "classes")
    assert store.objects.list() == {} and store.records() == []
