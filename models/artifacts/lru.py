"""A folder of folders on this host's disk, bounded in size: past `max_bytes`, the folders used
least recently go first. The model file cache (cache.py) and the datasets a training host pulled
from the bucket (training/data/bucket_store.py) are both copies of what the bucket holds, so
either may be dropped and fetched again.

"Used" is a folder's mtime, set by `touch` on each use. A folder is never evicted while it is
pinned: a reader that needs the files for a while (a training that loads its dataset and later
evaluates on it) holds a shared flock on the folder's pin file, and eviction takes the pin
exclusively or skips the folder. Several processes on one machine share the root: filling and
evicting hold the root's lock, and the locks are flocks, which die with their process.

Entries whose names start with '.' (locks, pins, staging folders) are not folders of the cache.
"""

import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PINS = ".pins"
EVICTING = ".evicting-"  # a folder renamed on its way out: gone for readers at once


class BoundedFolders:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def touch(self, folder: Path) -> bool:
        """Mark a folder used again; False when eviction (here or in another process) removed it."""
        now = time.time_ns()  # not the file system's clock, whose coarse ticks would tie recent uses
        try:
            os.utime(folder, ns=(now, now))
        except FileNotFoundError:
            return False
        return True

    def size(self) -> int:
        return sum(_folder_size(folder) for folder in self.folders())

    def folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [path for path in self.root.iterdir() if path.is_dir() and not path.name.startswith(".")]

    def evict(self, keep: Path | None = None) -> list[str]:
        """Past max_bytes, remove the least recently used folders, never `keep` nor a pinned one;
        the names removed. Call it holding `locked()`."""
        for leftover in self.root.glob(f"{EVICTING}*"):  # a process killed while it removed one
            shutil.rmtree(leftover, ignore_errors=True)
        folders = sorted(self.folders(), key=lambda folder: folder.stat().st_mtime_ns)
        total = sum(_folder_size(folder) for folder in folders)
        removed = []
        for folder in folders:
            if total <= self.max_bytes:
                break
            if folder == keep:
                continue
            size = _folder_size(folder)
            if self._remove_unless_pinned(folder):
                total -= size
                removed.append(folder.name)
        return removed

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The root's lock, held while a folder is filled or folders are evicted."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def pinned(self, name: str) -> Iterator[None]:
        """Keep folder `name` from eviction while the block runs. It need not exist yet: pin
        first, then look for the folder (and fill it) holding `locked()`, so that an eviction
        either ran before the look, or sees the pin."""
        path = self._pin_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = path.open("a")
            fcntl.flock(handle, fcntl.LOCK_SH)
            if _same_file(handle, path):
                break
            handle.close()  # an eviction held this pin and unlinked it while we waited: take the new one
        try:
            yield
        finally:
            handle.close()  # closing lets the flock go

    def _remove_unless_pinned(self, folder: Path) -> bool:
        pin = self._pin_path(folder.name)
        if not pin.exists():  # nobody pinned it; one who pins now looks for the folder after our lock
            self._remove(folder)
            return True
        with pin.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # in use
            self._remove(folder)
            pin.unlink()  # while we hold it, so a pinner waiting on it sees the change and takes a new one
        return True

    def _remove(self, folder: Path) -> None:
        doomed = self.root / f"{EVICTING}{folder.name}-{secrets.token_hex(4)}"
        folder.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def _pin_path(self, name: str) -> Path:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a folder name: {name!r}")
        return self.root / PINS / name


def _same_file(handle, path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


def _folder_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:
            continue  # removed while we counted
    return total
