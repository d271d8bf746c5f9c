"""Model files on this machine's disk, for readers that need a path (ONNX Runtime sessions).

One folder per version's network, named by the sha256 of its model.onnx (so two versions with
the same network share one copy, and a folder never goes stale: other bytes, another name),
holding every file of the version (model.onnx, variants, a CycleGAN's second direction, a style
mapping). The cache is bounded: past `max_bytes`, the folders used least recently (their
mtime, touched on each use) are removed, never the one just asked for. ONNX Runtime has read
a file whole by the time a session exists, so removing it later does not harm that session.
Several processes on one machine may share the folder: filling and evicting hold an flock.
"""

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Fetch = Callable[[str, Path], None]  # (file name, target path): writes one file of the version


class ModelFileCache:
    def __init__(self, root: Path, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def folder(self, sha256: str, files: dict[str, int], fetch: Fetch) -> Path:
        """The folder holding `files` (name -> size) of the network `sha256`, fetching those
        missing (or of another size) first; marks it used."""
        if not sha256.isalnum():
            raise ValueError(f"not a digest: {sha256!r}")
        folder = self.root / sha256
        with self._locked():
            folder.mkdir(parents=True, exist_ok=True)
            for name, size in files.items():
                path = folder / name
                if _size(path) == size:
                    continue
                tmp = folder / f".{name}.{os.getpid()}.part"
                try:
                    fetch(name, tmp)
                    os.replace(tmp, path)
                finally:
                    tmp.unlink(missing_ok=True)
            self.touch(folder)
            self._evict(keep=folder)
        return folder

    def touch(self, folder: Path, file_name: str | None = None) -> bool:
        """Mark a folder used again; False when eviction (here or in another process) removed it."""
        now = time.time_ns()  # not the file system's clock, whose coarse ticks would tie recent uses
        try:
            os.utime(folder, ns=(now, now))
        except FileNotFoundError:
            return False
        return file_name is None or (folder / file_name).is_file()

    def size(self) -> int:
        return sum(_folder_size(folder) for folder in self._folders())

    def _evict(self, keep: Path) -> None:
        folders = sorted(self._folders(), key=lambda folder: folder.stat().st_mtime_ns)
        total = sum(_folder_size(folder) for folder in folders)
        for folder in folders:
            if total <= self.max_bytes:
                break
            if folder == keep:
                continue
            total -= _folder_size(folder)
            shutil.rmtree(folder, ignore_errors=True)

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [path for path in self.root.iterdir() if path.is_dir() and not path.name.startswith(".")]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def _folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
