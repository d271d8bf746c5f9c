"""The datasets a host pulled from a bucket (moto's S3 server, a process of its own) are bounded
on its disk like the model file cache: past GANFORGE_DATASET_CACHE_BYTES the least recently
used copy goes, never one a training holds; a copy that went is pulled again when read."""

from archives import classes_files, zip_bytes

from models.artifacts import open_object_store
from service.core.settings import Settings
from training.data.bucket_store import BucketDatasetStore, dataset_kept
from training.data.store import DatasetStore


def host(root, url: str, cache_bytes: int = 1 << 30) -> BucketDatasetStore:
    return BucketDatasetStore(root, open_object_store(f"{url}/datasets"), cache_bytes, builtins={})


def copies(store: BucketDatasetStore) -> set[str]:
    return {folder.name for folder in store.copies.folders()}


def upload(store: BucketDatasetStore, tmp_path, tag: int) -> str:
    archive = tmp_path / f"set{tag}.zip"
    archive.write_bytes(zip_bytes(classes_files()))
    return store.create(archive, "classes", name=f"set {tag}").id


def test_pulled_datasets_past_the_bound_evict_the_least_recently_used_never_one_in_use(s3_bucket, tmp_path):
    api_host = host(tmp_path / "api", s3_bucket)
    one, two, three = (upload(api_host, tmp_path, tag) for tag in (1, 2, 3))
    probe = host(tmp_path / "probe", s3_bucket)
    probe.load_images(one, 8, 3)
    size = probe.copies.size()  # one dataset's copy; the three are alike
    trainer = host(tmp_path / "trainer", s3_bucket, cache_bytes=2 * size + size // 2)  # room for two

    trainer.load_images(one, 8, 3)
    trainer.load_images(two, 8, 3)
    assert copies(trainer) == {one, two}
    images, labels, _ = trainer.load_images(three, 8, 3)
    assert copies(trainer) == {two, three}  # one was used least recently
    assert images.shape == (6, 3, 8, 8) and trainer.copies.size() <= trainer.copies.max_bytes

    with dataset_kept(trainer, two):  # a training on two: it evaluates on it at its end
        trainer.load_images(one, 8, 3)  # pulled again; two is the least recently used, but held
        assert copies(trainer) == {one, two}
        trainer.load_images(three, 8, 3)
        assert copies(trainer) == {two, three}
    trainer.load_images(one, 8, 3)  # let go of: two goes now
    assert copies(trainer) == {three, one}

    again, _, _ = trainer.load_images(two, 8, 3)  # evicted copies come back whole
    assert (again == probe.load_images(two, 8, 3)[0]).all()


def test_the_api_hosts_copies_are_bounded_too_and_the_bucket_keeps_them_all(s3_bucket, tmp_path):
    probe = host(tmp_path / "probe", s3_bucket)
    first = upload(probe, tmp_path, 1)
    api_host = host(tmp_path / "api", s3_bucket, cache_bytes=probe.copies.size() + 1)  # room for one
    second, third = upload(api_host, tmp_path, 2), upload(api_host, tmp_path, 3)
    assert copies(api_host) == {third}
    assert {record.id for record in api_host.records()} == {first, second, third}
    assert api_host.load_images(second, 8, 3)[0].shape == (6, 3, 8, 8)


def test_the_bound_is_a_setting(s3_bucket, tmp_path):
    settings = Settings(state_dir=tmp_path / "state", artifacts_url=s3_bucket, dataset_cache_bytes=12345)
    store = DatasetStore.from_settings(settings)
    assert isinstance(store, BucketDatasetStore) and store.copies.max_bytes == 12345
    assert Settings(state_dir=tmp_path / "state").dataset_cache_bytes == 4 << 30
