"""Datasets in a bucket (GANFORGE_ARTIFACTS_URL): DatasetStore's layout under `datasets/{id}/`,
for hosts that share no folder. The API host that receives an archive checks and builds the
dataset in its own folder (DatasetStore.create), then uploads it, `dataset.json` last: a dataset
exists for everyone once its record is in the bucket, never half of it. A host that reads one
(a training host loading the images) pulls it whole into its own folder first; the record, for
listings and lookups, and the preview are read without pulling the images.

The local folder is this host's copy; a dataset deleted elsewhere is dropped from it on the next
lookup (the bucket is asked each time: one small request).
"""

import json
import secrets
import shutil
from pathlib import Path

from models.artifacts import ObjectMissing, ObjectStore
from training.data.store import (
    DATASET_ID,
    BuiltinReadOnly,
    DatasetRecord,
    DatasetStore,
    UnknownDataset,
)

RECORD = "dataset.json"


class BucketDatasetStore(DatasetStore):
    def __init__(self, root: Path, objects: ObjectStore, **options):
        super().__init__(root, **options)
        self.objects = objects

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

    def _folder(self, ref: str) -> Path:
        """This host's whole copy of the dataset, pulled from the bucket when it has none."""
        self._record_bytes(ref)  # still in the bucket (UnknownDataset otherwise)
        folder = self.root / ref
        if (folder / RECORD).is_file():
            return folder
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{secrets.token_hex(8)}"
        try:
            for key in self.objects.list(f"{ref}/"):
                target = staging / key[len(ref) + 1:]
                target.parent.mkdir(parents=True, exist_ok=True)
                self.objects.download(key, target)
            staging.rename(folder)
        except OSError:
            if not (folder / RECORD).is_file():  # not a concurrent pull that got there first
                raise
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
