"""The model registry on disk: names, numbered versions and aliases.

Layout under the root (the bundled zoo and ARTIFACTS_DIR/models share it):

    {name}/aliases.json          {"latest": 2}
    {name}/{version}/model.onnx
    {name}/{version}/manifest.json

A version folder is built under a temporary name and renamed into place, so a reader never
sees half a version, and several workers can register at once without a lock server.

Every change lands by rename (a new inode): a version, its manifest, the aliases file. So
`resolve_cached`, which the API (per request) and the workers (per job) resolve with, answers a
ref from memory behind stat() calls (resolving from disk lists the model's folder, reads its
aliases and parses the manifest: issue 13 found it 26% of the API's samples at c=32) and still
sees a new version, a moved alias, a deleted or rewritten version on the very next call.

Both backends keep those answers in one `ManifestCache` and say when a model changed: every
write drops the writer's own answers about that model and calls `on_change(name)`, which the
service wires to a Redis channel that every API and worker process follows
(service/core/model_changes.py), each of them dropping its answers about that model on hearing it.

This folder is the registry on one machine (or a shared filesystem). Across machines the same
API runs on a bucket, where rename and flock do not exist: models/artifacts/model_store.py
(ObjectModelStore, publishing manifest-last with conditional puts); `open_model_store` picks.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.manifest import Manifest, Provenance, Signature, Task

if TYPE_CHECKING:
    from models.artifacts.model_store import ObjectModelStore

MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
ALIAS_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")


class UnknownModel(LookupError):
    """No model, version or alias by that name."""


class VersionInUse(Exception):
    """A version an alias points at cannot be deleted."""

    def __init__(self, name: str, version: int, aliases: list[str]):
        super().__init__(f"{name}:{version} is what {', '.join(aliases)} point(s) at; move the alias(es) first")
        self.aliases = aliases


def parse_model_ref(ref: str) -> tuple[str, str]:
    """'name' -> (name, 'latest'); 'name:3' or 'name:alias' -> (name, '3' / 'alias')."""
    name, _, version = ref.partition(":")
    return name, version or "latest"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes, read in blocks (a model file may be large)."""
    with Path(path).open("rb") as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


def file_sha256(path: Path) -> str:
    return file_digest(path, "sha256")


_Stat = tuple[int, int, int, int] | None


def _stat(path: Path) -> _Stat:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # not there, or not a path at all
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size, st.st_nlink


class RegistryReads:
    """How a ref resolves, for every backend: a subclass lists versions and aliases and reads a manifest."""

    def versions(self, name: str) -> list[int]:
        raise NotImplementedError

    def aliases(self, name: str) -> dict[str, int]:
        raise NotImplementedError

    def manifest(self, name: str, version: int) -> Manifest:
        raise NotImplementedError

    def resolve(self, ref: str) -> Manifest:
        """A manifest for 'name', 'name:version' or 'name:alias'; UnknownModel otherwise."""
        name, wanted = parse_model_ref(ref)
        versions = self.versions(name)
        if not versions:
            raise UnknownModel(f"no model named {name!r}")
        if wanted.isascii() and wanted.isdigit():  # '²' is a digit to str.isdigit, not to int()
            version = int(wanted)
        else:
            version = self.aliases(name).get(wanted)
            if version is None and wanted == "latest":
                version = self._newest_promoted(name, versions)
        if version not in versions:
            raise UnknownModel(f"model {name!r} has no version or alias {wanted!r}")
        return self.manifest(name, version)

    def _newest_promoted(self, name: str, versions: list[int]) -> int | None:
        """`latest` without an alias: the newest version no quality gate held back (training/evaluation/quality_gate.py)."""
        for version in reversed(versions):
            if self.manifest(name, version).metrics.get("quality_gate", {}).get("promoted", True):
                return version
        return None


class ManifestCache:
    """`resolve_cached`'s answers by ref ('name:wanted'), each with what its backend checks it by
    (stat() signatures on a disk, the time it was read from a bucket).

    `drop(name)` forgets one model's answers, `drop()` all of them. An answer read before a drop
    is not kept after it (`put` takes the `mark` taken before the read), so a change heard while
    a read of the old state is in flight is not undone by that read.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, Manifest]] = {}
        self._drops = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, Manifest] | None:
        return self._entries.get(key)

    def mark(self) -> int:
        return self._drops

    def put(self, key: str, check: Any, manifest: Manifest, mark: int) -> None:
        with self._lock:
            if self._drops == mark:
                self._entries[key] = (check, manifest)

    def drop(self, name: str | None = None) -> None:
        with self._lock:
            self._drops += 1
            if name is None:
                self._entries.clear()
                return
            for key in [key for key in self._entries if key.partition(":")[0] == name]:
                del self._entries[key]


class CachedRegistry(RegistryReads):
    """A registry that answers `resolve_cached` from a ManifestCache and says when a model changed."""

    def __init__(self, *, on_change: Callable[[str], None] | None = None):
        self._cache = ManifestCache()
        # Called with a model's name once a write to it is visible to every reader; the service
        # publishes it to the other processes (service/core/model_changes.py).
        self.on_change = on_change

    def invalidate(self, name: str | None = None) -> None:
        """Forget what resolve_cached remembers of model `name` (of every model: None)."""
        self._cache.drop(name)

    def _changed(self, name: str) -> None:
        self._cache.drop(name)  # read your own writes at once, whatever the others hear
        if self.on_change is not None:
            self.on_change(name)


class ModelStore(CachedRegistry):
    def __init__(self, root: Path, *, on_change: Callable[[str], None] | None = None):
        super().__init__(on_change=on_change)
        self.root = Path(root)

    # -- reading -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not MODEL_NAME.match(name) or not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "manifest.json").is_file())

    def aliases(self, name: str) -> dict[str, int]:
        path = self.root / name / "aliases.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def resolve_cached(self, ref: str) -> Manifest:
        """`resolve` from memory, checked against disk by stat(): the version's manifest and, for
        a name or an alias, the model's folder (versions come and go) and its aliases file."""
        name, wanted = parse_model_ref(ref)
        key = f"{name}:{wanted}"
        cached = self._cache.get(key)
        if cached is not None:
            signature, manifest = cached
            if signature[0] is not None and self._signature(name, wanted, manifest.version) == signature:
                return manifest
        mark = self._cache.mark()
        # Read again after the stat: a change landing between the first read and the stat is
        # not cached under the new signature.
        manifest = self.resolve(ref)
        signature = self._signature(name, wanted, manifest.version)
        after = self.resolve(ref)
        if after != manifest or signature[0] is None:
            return after
        self._cache.put(key, signature, manifest, mark)
        return manifest

    def _signature(self, name: str, wanted: str, version: int) -> tuple[_Stat, ...]:
        folder = self.root / name
        manifest = _stat(folder / str(version) / "manifest.json")
        if wanted.isascii() and wanted.isdigit():  # an exact version: only its manifest matters
            return (manifest,)
        return manifest, _stat(folder), _stat(folder / "aliases.json")

    def manifest(self, name: str, version: int) -> Manifest:
        return Manifest.model_validate_json((self.root / name / str(version) / "manifest.json").read_text())

    def onnx_path(self, manifest: Manifest) -> Path:
        return self.root / manifest.name / str(manifest.version) / manifest.onnx_file

    # -- writing -----------------------------------------------------------------------------

    def register(
        self,
        name: str,
        onnx_file: Path,
        *,
        task: Task,
        architecture: str,
        config: dict[str, Any],
        signature: Signature,
        provenance: Provenance,
        parity_max_abs_diff: float,
        metrics: dict[str, Any] | None = None,
        aliases: tuple[str, ...] = ("latest",),
        extra_files: tuple[Path, ...] = (),
    ) -> Manifest:
        """Add the next version of `name` from an ONNX file (copied as model.onnx, with any
        `extra_files` beside it under their own names) and point `aliases` at it."""
        if not MODEL_NAME.match(name):
            raise ValueError(f"invalid model name {name!r}: use lowercase letters, digits, '.', '_', '-'")
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
        try:
            shutil.copyfile(onnx_file, staging / "model.onnx")
            for extra in extra_files:  # more ONNX files of the same version (a CycleGAN's b2a)
                shutil.copyfile(extra, staging / Path(extra).name)
            with self._lock(name):
                version = max(self.versions(name), default=0) + 1
                manifest = Manifest(
                    name=name,
                    version=version,
                    task=task,
                    architecture=architecture,
                    config=config,
                    signature=signature,
                    provenance=provenance,
                    metrics=metrics or {},
                    onnx_sha256=file_sha256(staging / "model.onnx"),
                    parity_max_abs_diff=parity_max_abs_diff,
                )
                (staging / "manifest.json").write_text(manifest.model_dump_json(indent=2) + "\n")
                os.rename(staging, folder / str(version))
                self._set_aliases(name, {alias: version for alias in aliases})
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._changed(name)
        return manifest

    def set_alias(self, name: str, alias: str, version: int) -> None:
        if not ALIAS_NAME.match(alias) or alias.isdigit():
            raise ValueError(f"invalid alias {alias!r}")
        if version not in self.versions(name):
            raise UnknownModel(f"model {name!r} has no version {version}")
        with self._lock(name):
            self._set_aliases(name, {alias: version})
        self._changed(name)

    def delete_version(self, name: str, version: int) -> None:
        """Remove a version no alias points at (VersionInUse otherwise). The folder is renamed
        away first, so a reader sees the version whole or not at all."""
        with self._lock(name):
            if version not in self.versions(name):
                raise UnknownModel(f"model {name!r} has no version {version}")
            pointing = sorted(alias for alias, target in self.aliases(name).items() if target == version)
            if pointing:
                raise VersionInUse(name, version, pointing)
            doomed = self.root / name / f".deleted-{version}-{os.getpid()}"
            os.rename(self.root / name / str(version), doomed)
        self._changed(name)
        shutil.rmtree(doomed, ignore_errors=True)

    def update_metrics(self, name: str, version: int, metrics: dict[str, Any]) -> Manifest:
        """Merge `metrics` into the version's manifest; a dict value is merged one level deep
        (under the lock), so two evaluations of one version finishing at once both land."""
        with self._lock(name):
            manifest = self.manifest(name, version)
            for key, value in metrics.items():
                current = manifest.metrics.get(key)
                merged = isinstance(value, dict) and isinstance(current, dict)
                manifest.metrics[key] = {**current, **value} if merged else value
            _write_atomically(self.root / name / str(version) / "manifest.json", manifest.model_dump_json(indent=2) + "\n")
        self._changed(name)
        return manifest

    def attach_variant(self, name: str, version: int, variant: str, onnx_file: Path) -> Manifest:
        """Add another encoding of a version's network (e.g. fp16) beside its model.onnx."""
        if not ALIAS_NAME.match(variant):
            raise ValueError(f"invalid variant name {variant!r}")
        folder = self.root / name / str(version)
        file_name = f"model.{variant}.onnx"
        with self._lock(name):
            manifest = self.manifest(name, version)
            shutil.copyfile(onnx_file, folder / f".{file_name}.tmp")
            os.replace(folder / f".{file_name}.tmp", folder / file_name)
            manifest.variants[variant] = file_name
            _write_atomically(folder / "manifest.json", manifest.model_dump_json(indent=2) + "\n")
        self._changed(name)
        return manifest

    def seed_from(self, other: "ModelStore") -> list[str]:
        """Copy every version of `other` that this store lacks (the bundled zoo at start-up)."""
        copied = []
        for name in other.names():
            changed = False
            for version in other.versions(name):
                target = self.root / name / str(version)
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
                shutil.copytree(other.root / name / str(version), staging, dirs_exist_ok=True)
                try:
                    os.rename(staging, target)
                    copied.append(f"{name}:{version}")
                    changed = True
                except OSError:  # another process seeded it first
                    shutil.rmtree(staging, ignore_errors=True)
            with self._lock(name):
                current = self.aliases(name)
                merged = {**other.aliases(name), **current}
                if merged != current:
                    self._set_aliases(name, merged)
                    changed = True
            if changed:
                self._changed(name)
        return copied

    def _set_aliases(self, name: str, updates: dict[str, int]) -> None:
        aliases = {**self.aliases(name), **updates}
        _write_atomically(self.root / name / "aliases.json", json.dumps(aliases, indent=2, sort_keys=True) + "\n")

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        lock_path = self.root / name / ".lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def open_model_store(models_dir: Path, *, artifacts_url: str | None = None, endpoint_url: str | None = None,
                     cache_dir: Path | None = None, cache_bytes: int = 2 << 30,
                     fresh_s: float = 30.0) -> "ModelStore | ObjectModelStore":
    """The registry a process serves from: the `models_dir` folder, or `{artifacts_url}/models`
    in a bucket (with model files cached under `cache_dir` for ONNX Runtime, and a manifest
    read again after `fresh_s` at the latest)."""
    if not artifacts_url:
        return ModelStore(models_dir)
    from models.artifacts import open_object_store
    from models.artifacts.cache import ModelFileCache
    from models.artifacts.model_store import ObjectModelStore

    objects = open_object_store(f"{artifacts_url.rstrip('/')}/models", endpoint_url=endpoint_url)
    return ObjectModelStore(objects, ModelFileCache(cache_dir or models_dir.parent / "model-cache", cache_bytes),
                            fresh_s=fresh_s)
