"""Uploaded archives: every attack refused with the failing file named, each layout accepted.

Unit tests on archives built in tmp_path; the store runs without built-ins so nothing slow loads.
"""

import gzip
import io
import os
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from archives import (
    classes_files,
    png,
    tar_bytes,
    tar_entry,
    truncated_png,
    write,
    zip_bytes,
)
from PIL import Image

from training.data.archive_check import ArchiveRejected, Limits, normalize
from training.data.builtin_datasets import builtin_datasets, read_idx
from training.data.store import DatasetStore, UnknownDataset


@pytest.fixture
def store(tmp_path):
    return DatasetStore(tmp_path / "datasets", Limits(), builtins={})


def upload(store, tmp_path, data: bytes, layout: str = "classes", name: str = "upload.bin"):
    return store.create(write(tmp_path / name, data), layout)


def rejected(store, tmp_path, data: bytes, layout: str = "classes") -> ArchiveRejected:
    with pytest.raises(ArchiveRejected) as caught:
        upload(store, tmp_path, data, layout)
    # A refused upload leaves nothing behind: no dataset, no staging folder.
    assert not store.root.exists() or list(store.root.iterdir()) == []
    return caught.value


def failing(rejection: ArchiveRejected) -> dict[str, str]:
    return {e.path: e.type for e in rejection.errors}


# -- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, clean", [("a/b.png", "a/b.png"), ("./a//b.png", "a/b.png"), ("a\\b.png", "a/b.png")])
def test_names_are_normalized(name, clean):
    assert normalize(name) == clean


@pytest.mark.parametrize("name", ["../evil.png", "a/../../evil.png", "/etc/evil.png", "C:/evil.png", "\\\\host\\x.png", "a/\x00.png"])
def test_names_that_leave_the_target_are_refused(name):
    with pytest.raises(ValueError):
        normalize(name)


# -- attacks ----------------------------------------------------------------------------------


def test_zip_slip_is_refused_and_named(store, tmp_path):
    error = rejected(store, tmp_path, zip_bytes({**classes_files(), "../evil.png": png()}))
    assert (error.status, error.type) == (422, "unsafe-archive")
    assert failing(error) == {"../evil.png": "unsafe_path"}
    assert not (tmp_path / "evil.png").exists()


def test_absolute_paths_are_refused_in_zip_and_tar(store, tmp_path):
    for data in (zip_bytes({**classes_files(), "/tmp/evil.png": png()}),
                 tar_bytes({**classes_files(), "/tmp/evil.png": png()})):
        error = rejected(store, tmp_path, data)
        assert error.status == 422 and failing(error) == {"/tmp/evil.png": "unsafe_path"}


def test_symlinks_are_refused_in_tar_and_zip(store, tmp_path):
    in_tar = tar_bytes(classes_files(), specials=[tar_entry("cat/link.png", tarfile.SYMTYPE, "/etc/passwd")])
    in_zip = zip_bytes(classes_files(), symlinks={"cat/link.png": "/etc/passwd"})
    for data in (in_tar, in_zip):
        error = rejected(store, tmp_path, data)
        assert (error.status, error.type) == (422, "unsafe-archive")
        assert failing(error) == {"cat/link.png": "link"}


def test_hardlinks_and_device_files_are_refused(store, tmp_path):
    data = tar_bytes(classes_files(), specials=[
        tar_entry("cat/hard.png", tarfile.LNKTYPE, "/etc/passwd"),
        tar_entry("cat/tty", tarfile.CHRTYPE),
        tar_entry("cat/pipe", tarfile.FIFOTYPE),
    ])
    error = rejected(store, tmp_path, data)
    assert failing(error) == {"cat/hard.png": "link", "cat/tty": "special_file", "cat/pipe": "special_file"}


def test_too_many_files_is_413(tmp_path):
    store = DatasetStore(tmp_path / "datasets", Limits(max_files=5), builtins={})
    error = rejected(store, tmp_path, zip_bytes(classes_files()))
    assert (error.status, error.type) == (413, "too-many-files")


def test_too_many_uncompressed_bytes_is_413(tmp_path):
    store = DatasetStore(tmp_path / "datasets", Limits(max_total_bytes=200), builtins={})
    error = rejected(store, tmp_path, tar_bytes(classes_files(), mode="w"))
    assert (error.status, error.type) == (413, "archive-too-large")


def test_zip_bomb_is_refused_from_its_declared_sizes(store, tmp_path):
    zeros = bytes(8 << 20)  # 8 MiB deflates to ~8 KiB: a ratio near 1000
    error = rejected(store, tmp_path, zip_bytes({**classes_files(), "cat/bomb.bmp": zeros}))
    assert (error.status, error.type) == (413, "compression-ratio")
    assert failing(error) == {"cat/bomb.bmp": "compression_ratio"}


def test_tar_gz_bomb_is_refused_from_the_overall_ratio(store, tmp_path):
    error = rejected(store, tmp_path, tar_bytes({**classes_files(), "cat/bomb.bmp": bytes(8 << 20)}))
    assert (error.status, error.type) == (413, "compression-ratio")


def test_every_undecodable_image_is_named(store, tmp_path):
    files = {**classes_files(), "cat/broken.png": truncated_png(), "dog/fake.jpg": b"not a jpeg at all"}
    error = rejected(store, tmp_path, zip_bytes(files))
    assert (error.status, error.type) == (422, "bad-images")
    assert failing(error) == {"cat/broken.png": "undecodable_image", "dog/fake.jpg": "undecodable_image"}


def test_images_over_the_pixel_bound_are_named(tmp_path):
    store = DatasetStore(tmp_path / "datasets", Limits(max_image_pixels=100), builtins={})
    error = rejected(store, tmp_path, zip_bytes({**classes_files(), "cat/big.png": png(size=(20, 20))}))
    assert failing(error) == {"cat/0.png": "too_many_pixels", "cat/1.png": "too_many_pixels", "cat/2.png": "too_many_pixels",
                              "dog/0.png": "too_many_pixels", "dog/1.png": "too_many_pixels", "dog/2.png": "too_many_pixels",
                              "cat/big.png": "too_many_pixels"}


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_truncated_archives_are_422(store, tmp_path, fmt):
    whole = zip_bytes(classes_files()) if fmt == "zip" else tar_bytes({**classes_files(), "cat/n.png": truncated_png()})
    error = rejected(store, tmp_path, whole[: len(whole) // 2])
    assert (error.status, error.type) == (422, "broken-archive")


@pytest.mark.parametrize("data", [b"", b"hello, this is not an archive", png()])
def test_bytes_that_are_no_archive_are_422(store, tmp_path, data):
    error = rejected(store, tmp_path, data)
    assert (error.status, error.type) == (422, "broken-archive")


# -- layouts ----------------------------------------------------------------------------------


def test_classes_layout_drops_a_wrapper_folder_and_junk(store, tmp_path):
    files = {**classes_files("my-pets/"), "my-pets/README.txt": b"hi", "__MACOSX/my-pets/._x.png": b"junk",
             "my-pets/cat/.DS_Store": b"junk"}
    record = upload(store, tmp_path, zip_bytes(files))
    assert record.layout == "classes" and record.num_images == 6
    assert record.classes == [{"name": "cat", "count": 3}, {"name": "dog", "count": 3}]
    assert record.sizes == [{"width": 12, "height": 12, "count": 6}] and record.modes == {"RGB": 6}
    assert record.ignored_files == ["my-pets/README.txt"]
    assert sorted(p.name for p in (store.root / record.id / "files").iterdir()) == ["cat", "dog"]
    images, labels, names = store.load_images(record.id, 16, 3)
    assert images.shape == (6, 3, 16, 16) and images.dtype == np.float32
    assert -1.0 <= images.min() and images.max() <= 1.0
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and names == ["cat", "dog"]


def test_images_layout_loads_unconditional_and_grey(store, tmp_path):
    files = {f"{i}.png": png(size=(20, 10)) for i in range(4)}
    record = upload(store, tmp_path, tar_bytes(files, mode="w:bz2"), layout="images")
    assert record.num_images == 4 and record.classes == [] and record.source["format"] == "tar"
    images, labels, names = store.load_images(record.id, 8, 1)
    assert images.shape == (4, 1, 8, 8) and labels is None and names == []


def test_unpaired_layout_counts_each_domain(store, tmp_path):
    files = {"A/x.png": png(), "a/y.png": png(), "B/z.png": png(color=(0, 0, 200))}
    record = upload(store, tmp_path, zip_bytes(files), layout="unpaired")
    assert record.domains == [{"name": "A", "count": 2}, {"name": "B", "count": 1}]
    a, b = store.load_pairs(record.id, 8, 3)
    assert a.shape == (2, 3, 8, 8) and b.shape == (1, 3, 8, 8)


def test_paired_by_name_lines_rows_up(store, tmp_path):
    files = {f"data/{d}/{i}.png": png(color=(i * 50, 0, 0) if d == "A" else (0, i * 50, 0)) for d in "AB" for i in range(3)}
    record = upload(store, tmp_path, tar_bytes(files), layout="paired")
    assert record.pairing == "by-name" and record.num_pairs == 3
    a, b = store.load_pairs(record.id, 4, 3)
    assert a.shape == b.shape == (3, 3, 4, 4)
    assert np.allclose(a[:, 0, 0, 0], b[:, 1, 0, 0])  # row i of A and of B come from the same name


def test_paired_side_by_side_splits_each_image(store, tmp_path):
    image = Image.new("RGB", (24, 12), (255, 0, 0))
    image.paste((0, 0, 255), (12, 0, 24, 12))
    out = io.BytesIO()
    image.save(out, format="PNG")
    record = upload(store, tmp_path, zip_bytes({"ab/1.png": out.getvalue(), "ab/2.png": out.getvalue()}), layout="paired")
    assert record.pairing == "side-by-side" and record.num_pairs == 2
    a, b = store.load_pairs(record.id, 6, 3)
    assert a[0, 0].mean() == pytest.approx(1.0) and b[0, 2].mean() == pytest.approx(1.0)


def test_layout_mismatches_name_each_file(store, tmp_path):
    error = rejected(store, tmp_path, zip_bytes({**classes_files(), "stray.png": png()}))
    assert (error.status, error.type) == (422, "bad-layout") and failing(error) == {"stray.png": "layout"}

    error = rejected(store, tmp_path, zip_bytes({"cat/1.png": png()}))
    assert failing(error) == {"": "too_few_classes"}

    error = rejected(store, tmp_path, zip_bytes({"A/1.png": png(), "A/2.png": png(), "B/1.png": png()}), layout="paired")
    assert failing(error) == {"A/2.png": "unpaired_file"}

    error = rejected(store, tmp_path, zip_bytes({"A/1.png": png()}), layout="unpaired")
    assert failing(error) == {"": "missing_domain"}

    error = rejected(store, tmp_path, zip_bytes({"1.png": png(size=(13, 10))}), layout="paired")
    assert failing(error) == {"1.png": "odd_width"}

    error = rejected(store, tmp_path, zip_bytes({"notes.txt": b"no images here"}), layout="images")
    assert failing(error) == {"": "no_images"}


# -- the store --------------------------------------------------------------------------------


def test_preview_list_get_and_delete(store, tmp_path):
    record = upload(store, tmp_path, zip_bytes(classes_files()))
    preview = Image.open(store.preview(record.id))
    assert preview.format == "PNG" and preview.width > 64
    assert [r.id for r in store.records()] == [record.id]
    assert store.get(record.id) == record
    store.delete(record.id)
    assert list(store.root.iterdir()) == []
    with pytest.raises(UnknownDataset):
        store.get(record.id)
    with pytest.raises(UnknownDataset):
        store.get("../etc")


def _idx(path, values: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    path.write_bytes(gzip.compress(header + values.astype(np.uint8).tobytes()))


def test_fashion_mnist_is_read_from_idx_files_where_present(tmp_path):
    assert "fashion-mnist" not in builtin_datasets(tmp_path)
    pixels = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _idx(tmp_path / "train-images-idx3-ubyte.gz", pixels)
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([9, 0, 3]))
    assert (read_idx(tmp_path / "train-images-idx3-ubyte.gz") == pixels).all()
    dataset = builtin_datasets(tmp_path)["fashion-mnist"]
    images, labels = dataset.load(28, 3)
    assert images.shape == (3, 3, 28, 28) and labels.tolist() == [9, 0, 3]
    assert images[0, 0, 0, 1] == pytest.approx(1 / 127.5 - 1)
    assert dataset.class_names[9] == "Ankle boot"


def test_leftovers_of_a_killed_upload_are_swept(store, tmp_path):
    stale = store.root / ".staging-deadbeef" / "files"
    stale.mkdir(parents=True)
    os.utime(stale.parent, (0, 0))
    upload(store, tmp_path, zip_bytes(classes_files()))
    assert not stale.parent.exists()


def test_the_api_side_of_datasets_never_imports_torch():
    code = "import sys, service.api.app, service.api.routers.datasets; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
