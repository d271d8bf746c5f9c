"""Model files on this machine's disk, for readers that need a path (ONNX Runtime sessions).

One folder per version's network, named by the sha256 of its model.onnx (so two versions with
the same network share one copy, and a folder never goes stale: other bytes, another name),
holding every file of the version (model.onnx, variants, a CycleGAN's second direction, a style
mapping). The cache is bounded (lru.py): past `max_bytes`, the folders used least recently are
removed, never the one just asked for. ONNX Runtime has read a file whole by the time a session
exists, so removing it later does not harm that session. Several processes on one machine may
share the folder: filling and evicting hold the root's flock.
"""

import os
from collections.abc import Callable
from pathlib import Path

from models.artifacts.lru import BoundedFolders

Fetch = Callable[[str, Path], None]  # (file name, target path): writes one file of the version


class ModelFileCache:
    def __init__(self, root: Path, max_bytes: int):
        self.folders = BoundedFolders(root, max_bytes)

    @property
    def root(self) -> Path:
        return self.folders.root

    @property
    def max_bytes(self) -> int:
        return self.folders.max_bytes

    def folder(self, sha256: str, files: dict[str, int], fetch: Fetch) -> Path:
        """The folder holding `files` (name -> size) of the network `sha256`, fetching those
        missing (or of another size) first; marks it used."""
        if not sha256.isalnum():
            raise ValueError(f"not a digest: {sha256!r}")
        folder = self.root / sha256
        with self.folders.locked():
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
            self.folders.touch(folder)
            self.folders.evict(keep=folder)
        return folder

    def touch(self, folder: Path, file_name: str | None = None) -> bool:
        """Mark a folder used again; False when eviction (here or in another process) removed it."""
        return self.folders.touch(folder) and (file_name is None or (folder / file_name).is_file())

    def size(self) -> int:
        return self.folders.size()


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None
