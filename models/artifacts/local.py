"""The directory backend: objects are files under a root folder, keys are their relative paths.

Every write lands by rename of a temporary file (a new inode), so a reader sees the old bytes or
the new, never half. The conditional puts hold an flock on one lock file while they check and
write: enough on one machine, or on a shared POSIX filesystem; across machines use a bucket.
Names starting with '.' (temporary files, lock files, ModelStore's staging folders) are not
objects and are never listed.
"""

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from models.artifacts import ObjectMissing, PreconditionFailed, StoredObject

LOCK_FILE = ".objects.lock"


class LocalObjectStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.url = self.root.resolve().as_uri()

    def get(self, key: str) -> StoredObject:
        path = self._path(key)
        try:
            with path.open("rb") as stream:
                etag = _etag(os.fstat(stream.fileno()))
                return StoredObject(stream.read(), etag)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectMissing(key) from None

    def download(self, key: str, target: Path) -> None:
        try:
            shutil.copyfile(self._path(key), target)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectMissing(key) from None

    def put(self, key: str, data: bytes) -> str:
        return self._write(key, lambda tmp: tmp.write_bytes(data))

    def upload(self, key: str, source: Path) -> None:
        self._write(key, lambda tmp: shutil.copyfile(source, tmp))

    def put_if_absent(self, key: str, data: bytes) -> str:
        with self._locked():
            if self._path(key).exists():
                raise PreconditionFailed(f"{key} exists")
            return self.put(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        with self._locked():
            try:
                current = _etag(os.stat(self._path(key)))
            except FileNotFoundError:
                raise PreconditionFailed(f"{key} is gone") from None
            if current != etag:
                raise PreconditionFailed(f"{key} changed")
            return self.put(key, data)

    def list(self, prefix: str = "") -> dict[str, int]:
        found = {}
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [name for name in dirs if not name.startswith(".")]
            for name in files:
                if name.startswith("."):
                    continue
                path = Path(folder) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        found[key] = path.stat().st_size
                    except FileNotFoundError:  # deleted while we walked
                        pass
        return found

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise ValueError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    def _write(self, key: str, fill) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{id(fill)}.tmp")
        try:
            fill(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return _etag(os.stat(path))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK_FILE).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _etag(st: os.stat_result) -> str:
    # A write is a rename of a new file: a new inode, so the etag changes even at equal size and mtime.
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"
