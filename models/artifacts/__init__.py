"""Where artifacts live: one small object-store interface, a local folder or an S3 bucket behind it.

Keys are '/'-separated paths relative to the store's root (a folder, or `s3://bucket/prefix`).
The primitives are the ones every S3-compatible server offers (get, put, list, delete) plus the
two conditional puts that make publication safe without rename or file locks:

- `put_if_absent` (S3 `If-None-Match: *`): the first writer of a key wins, the others get
  PreconditionFailed. A version's manifest is written this way, last, after its files.
- `put_if_match` (S3 `If-Match: <etag>`): a read-modify-write that fails when someone else wrote
  in between; the caller reads again and retries (aliases, metrics merged into a manifest).

The directory backend (local.py) gives the same guarantees with rename and a lock file, so the
same tests run against both (tests/unit/models/test_store_objects.py).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class ObjectMissing(LookupError):
    """No object under that key."""


class StoreUnavailable(ConnectionError):
    """The object store could not be reached, or answered a server error: nothing is wrong with the
    request, so the API answers 503 and a caller may try again."""


class PreconditionFailed(Exception):
    """A conditional put lost: the key exists (put_if_absent) or changed (put_if_match)."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str  # what put_if_match compares with; changes with every write


class ObjectStore(Protocol):
    url: str

    def get(self, key: str) -> StoredObject:
        """The object's bytes and etag; ObjectMissing when there is none."""

    def download(self, key: str, target: Path) -> None:
        """Write the object to `target` (a new file), streamed: model files may be large."""

    def put(self, key: str, data: bytes) -> str:
        """Write (or overwrite) an object; its new etag."""

    def upload(self, key: str, source: Path) -> None:
        """Write a local file as an object, streamed."""

    def put_if_absent(self, key: str, data: bytes) -> str:
        """Write only if no object has that key; PreconditionFailed otherwise."""

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        """Write only if the object's etag is still `etag`; PreconditionFailed otherwise (gone too)."""

    def list(self, prefix: str = "") -> dict[str, int]:
        """Every key under `prefix` (recursively), with its size in bytes."""

    def delete(self, key: str) -> None:
        """Remove an object; no error when it is already gone."""


def open_object_store(url: str, *, endpoint_url: str | None = None) -> ObjectStore:
    """The store a URL names: `s3://bucket/prefix`, `file:///path` or a plain folder path."""
    if url.startswith("s3://"):  # boto3 is imported only where a bucket is used
        from models.artifacts.s3 import S3ObjectStore

        return S3ObjectStore.from_url(url, endpoint_url=endpoint_url)
    from models.artifacts.local import LocalObjectStore

    return LocalObjectStore(Path(url.removeprefix("file://")))
