"""Datasets in a bucket (GANFORGE_ARTIFACTS_URL): DatasetStore's layout under `datasets/{id}/`,
for hosts that share no folder. The API host that receives an archive checks and builds the
dataset in its own folder (DatasetStore.create), then uploads it, `dataset.json` last: a dataset
exists for everyone once its record is in the bucket, never half of it. A host that reads one
(a training host loading the images) pulls it whole into its own folder first; the record, for
listings and lookups, and the preview are read without pulling the images.

The local folder is this host's copy; a dataset deleted elsewhere is dropped from it on the next
lookup (the bucket is asked each time: one small request). The copies are bounded like the model
file cache (models/artifacts/lru.py, GANFORGE_DATASET_CACHE_BYTES): past the bound, the datasets
used least recently are removed, never one a reader holds. A load holds its dataset while it
reads; a training holds its own for the whole run (`dataset_kept`), since it evaluates on it at
its end.
"""

import json
import secrets
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import numpy as np

from models.artifacts import ObjectMissing, ObjectStore
from models.artifacts.lru import BoundedFolders
from training.data.store import (
    DATASET_ID,
    BuiltinReadOnly,
    DatasetRecord,
    DatasetStore,
    UnknownDataset,
)

RECORD = "dataset.json"
DEFAULT_CACHE_BYTES = 4 << 30


class BucketDatasetStore(DatasetStore):
    def __init__(self, root: Path, objects: ObjectStore, cache_bytes: int = DEFAULT_CACHE_BYTES, **options):
        super().__init__(root, **options)
        self.objects = objects
        self.copies = BoundedFolders(self.root, cache_bytes)  # this host's copies, by dataset id

    def create(self, archive: Path, layout: str, name: str | None = None, filename: str | None = None) -> DatasetRecord:
        record = super().create(archive, layout, name, filename)
        folder = self.root / record.id
        try:
            files = sorted(path for path in folder.rglob("*") if path.is_file() and path.name != RECORD)
            for path in files:
                self.objects.upload(f"{record.id}/{path.relative_to(folder).as_posix()}", path)
            self.objects.put_if_absent(f"{record.id}/{RECORD}", (folder / RECORD).read_bytes())
        except BaseException:
            self._drop_remote(record.id)
            self._drop_local(record.id)
            raise
        with self.copies.locked():  # this host's copy counts against the bound like a pulled one
            self.copies.touch(folder)
            self.copies.evict(keep=folder)
        return record

    def delete(self, ref: str) -> None:
        if ref in self.builtins:
            raise BuiltinReadOnly(f"{ref} is built in and cannot be deleted")
        self.get(ref)  # UnknownDataset when there is none
        self._drop_remote(ref)
        self._drop_local(ref)

    def get(self, ref: str) -> DatasetRecord:
        if ref in self.builtins:
            return DatasetRecord.from_builtin(self.builtins[ref])
        return DatasetRecord(**json.loads(self._record_bytes(ref)))

    def records(self) -> list[DatasetRecord]:
        uploads = []
        for key in self.objects.list():
            ref, _, rest = key.partition("/")
            if rest == RECORD and DATASET_ID.match(ref):
                try:
                    uploads.append(self.get(ref))
                except UnknownDataset:
                    continue  # deleted while we listed
        uploads.sort(key=lambda record: record.created_at or "")
        return [DatasetRecord.from_builtin(b) for b in self.builtins.values()] + uploads

    def preview(self, ref: str) -> Path:
        if ref in self.builtins:
            return super().preview(ref)
        self._record_bytes(ref)
        path = self.root / ".bucket-previews" / f"{ref}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            self.objects.download(f"{ref}/preview.png", part)
            part.replace(path)
        return path

    @contextmanager
    def in_use(self, ref: str) -> Iterator[None]:
        """While the block runs, this host's copy of `ref` (once pulled) is not evicted."""
        if ref in self.builtins or not DATASET_ID.match(ref):
            yield  # a built-in comes from the packages; an unknown ref fails at its lookup
            return
        with self.copies.pinned(ref):
            yield

    def load_images(self, ref: str, image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        with self.in_use(ref):
            return super().load_images(ref, image_size, channels)

    def load_pairs(self, ref: str, image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
        with self.in_use(ref):
            return super().load_pairs(ref, image_size, channels)

    def _folder(self, ref: str) -> Path:
        """This host's whole copy of the dataset, pulled from the bucket when it has none; marks
        it used and evicts past the bound. The caller holds `in_use(ref)`."""
        self._record_bytes(ref)  # still in the bucket (UnknownDataset otherwise)
        folder = self.root / ref
        with self.copies.locked():  # under the lock: an eviction ran before this look, or saw our pin
            if self.copies.touch(folder) and (folder / RECORD).is_file():
                return folder
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{secrets.token_hex(8)}"
        try:
            for key in self.objects.list(f"{ref}/"):
                target = staging / key[len(ref) + 1:]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.objects.download(key, target)
            with self.copies.locked():
                try:
                    staging.rename(folder)
                except OSError:
                    if not (folder / RECORD).is_file():  # not a concurrent pull that got there first
                        raise
                self.copies.touch(folder)
                self.copies.evict(keep=folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return folder

    def _record_bytes(self, ref: str) -> bytes:
        if DATASET_ID.match(ref):
            try:
                return self.objects.get(f"{ref}/{RECORD}").data
            except ObjectMissing:
                self._drop_local(ref)  # deleted from another host: this copy is stale
        raise UnknownDataset(f"no dataset {ref!r}; built-in: {', '.join(self.builtins)}")

    def _drop_remote(self, ref: str) -> None:
        self.objects.delete(f"{ref}/{RECORD}")  # first: the dataset is gone for every reader at once
        for key in self.objects.list(f"{ref}/"):
            self.objects.delete(key)

    def _drop_local(self, ref: str) -> None:
        (self.root / ".bucket-previews" / f"{ref}.png").unlink(missing_ok=True)
        if (self.root / ref).is_dir():
            doomed = self.root / f".deleting-{ref}-{secrets.token_hex(4)}"
            try:
                (self.root / ref).rename(doomed)
            except OSError:
                return  # another thread dropped it first
            shutil.rmtree(doomed, ignore_errors=True)


def dataset_kept(datasets: DatasetStore, ref: str) -> AbstractContextManager[None]:
    """While the block runs, `ref` stays on this host's disk: a bucket store's copy is not evicted;
    a store that holds the only copy never evicts anything."""
    return datasets.in_use(ref) if isinstance(datasets, BucketDatasetStore) else nullcontext()
