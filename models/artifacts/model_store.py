"""The model registry on an object store (a bucket across machines): ModelStore's API without
rename or file locks, which object stores do not have.

Keys mirror ModelStore's folders, so a bucket and a models folder read alike:

    {name}/aliases.json              {"latest": 2}
    {name}/{version}/claim.json      who took the number (written first, conditionally)
    {name}/{version}/model.onnx      and any other file of the version
    {name}/{version}/manifest.json   written last: the version exists from this put on

Publication: the writer claims the next number with a conditional put (`If-None-Match: *`; of
two writers racing, one gets the number and the other tries the next), uploads the files, and
puts the manifest last, so a reader (who only counts versions with a manifest) never sees half a
version. Aliases and metrics change by read-modify-write with `If-Match: <etag>`, retried when
another writer came in between, so concurrent updates all land.

Readers that need a path (ONNX Runtime) get the version's files from a local cache keyed by the
network's sha256 (cache.py). `resolve_cached` keeps an answer until the model changes: a bucket
read costs a round trip, and the per-request resolve must not pay three. Every write here drops
this process's answers about the model and calls `on_change(name)`, which the service publishes
to every other process on Redis (service/core/model_changes.py); they drop theirs on hearing it.
`fresh_s` (GANFORGE_MANIFEST_FRESH_S, 30 s) bounds an answer's age for when that channel is down.
"""

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.artifacts import ObjectMissing, ObjectStore, PreconditionFailed
from models.artifacts.cache import ModelFileCache
from models.manifest import Manifest, Provenance, Signature, Task
from models.store import (
    ALIAS_NAME,
    MODEL_NAME,
    CachedRegistry,
    RegistryReads,
    UnknownModel,
    VersionInUse,
    file_sha256,
    parse_model_ref,
)

MANIFEST = "manifest.json"
CLAIM = "claim.json"
ALIASES = "aliases.json"
CAS_ATTEMPTS = 50  # conditional writes retried this often before giving up (only under heavy contention)


class ObjectModelStore(CachedRegistry):
    def __init__(self, objects: ObjectStore, cache: ModelFileCache, *, fresh_s: float = 30.0,
                 on_change: Callable[[str], None] | None = None):
        super().__init__(on_change=on_change)
        self.objects = objects
        self.cache = cache
        self.fresh_s = fresh_s
        self._folders: dict[tuple, Path] = {}  # onnx_path's answers, by the manifest fields they depend on
        self._lock = threading.Lock()

    @property
    def root(self) -> str:
        return self.objects.url

    # -- reading -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted({key.split("/")[0] for key in self.objects.list() if _version_of(key, MANIFEST) is not None})

    def versions(self, name: str) -> list[int]:
        if not MODEL_NAME.match(name):
            return []
        keys = self.objects.list(f"{name}/")
        return sorted(v for v in (_version_of(key, MANIFEST) for key in keys) if v is not None)

    def aliases(self, name: str) -> dict[str, int]:
        try:
            return json.loads(self.objects.get(f"{name}/{ALIASES}").data)
        except ObjectMissing:
            return {}

    def manifest(self, name: str, version: int) -> Manifest:
        try:
            return Manifest.model_validate_json(self.objects.get(f"{name}/{version}/{MANIFEST}").data)
        except ObjectMissing:
            raise UnknownModel(f"model {name!r} has no version {version}") from None

    def resolve_cached(self, ref: str) -> Manifest:
        name, wanted = parse_model_ref(ref)
        key = f"{name}:{wanted}"
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.fresh_s:
            return cached[1]
        mark, read_at = self._cache.mark(), time.monotonic()
        manifest = self.resolve(ref)
        self._cache.put(key, read_at, manifest, mark)
        return manifest

    def onnx_path(self, manifest: Manifest) -> Path:
        """The version's model.onnx on this machine's disk (the version's other files beside it).
        A job asks for it each time: after the first, it costs a stat, not a bucket listing."""
        known = (manifest.name, manifest.version, manifest.onnx_sha256, tuple(sorted(manifest.variants.items())))
        folder = self._folders.get(known)
        if folder is not None and self.cache.touch(folder, manifest.onnx_file):
            return folder / manifest.onnx_file
        prefix = f"{manifest.name}/{manifest.version}/"
        files = {key[len(prefix):]: size for key, size in self.objects.list(prefix).items()
                 if "/" not in key[len(prefix):] and key[len(prefix):] not in (MANIFEST, CLAIM)}
        if manifest.onnx_file not in files:
            raise UnknownModel(f"model {manifest.name}:{manifest.version} has no {manifest.onnx_file} in {self.root}")
        folder = self.cache.folder(manifest.onnx_sha256, files,
                                   lambda file_name, target: self.objects.download(prefix + file_name, target))
        with self._lock:
            self._folders[known] = folder
        return folder / manifest.onnx_file

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
        """ModelStore.register on the object store: claim a number, files, then the manifest."""
        if not MODEL_NAME.match(name):
            raise ValueError(f"invalid model name {name!r}: use lowercase letters, digits, '.', '_', '-'")
        version = self._claim_next(name)
        prefix = f"{name}/{version}/"
        self.objects.upload(prefix + "model.onnx", Path(onnx_file))
        for extra in extra_files:  # more ONNX files of the same version (a CycleGAN's b2a)
            self.objects.upload(prefix + Path(extra).name, Path(extra))
        manifest = Manifest(
            name=name, version=version, task=task, architecture=architecture, config=config,
            signature=signature, provenance=provenance, metrics=metrics or {},
            onnx_sha256=file_sha256(Path(onnx_file)), parity_max_abs_diff=parity_max_abs_diff,
        )
        self.objects.put_if_absent(prefix + MANIFEST, _manifest_bytes(manifest))
        if aliases:
            self._update_aliases(name, {alias: version for alias in aliases})
        self._changed(name)
        return manifest

    def set_alias(self, name: str, alias: str, version: int) -> None:
        if not ALIAS_NAME.match(alias) or alias.isdigit():
            raise ValueError(f"invalid alias {alias!r}")
        if version not in self.versions(name):
            raise UnknownModel(f"model {name!r} has no version {version}")
        self._update_aliases(name, {alias: version})
        self._changed(name)

    def delete_version(self, name: str, version: int) -> None:
        """Remove a version no alias points at: its manifest first (readers stop seeing it), then
        its files, its claim last (the number is free again, as in a folder)."""
        if version not in self.versions(name):
            raise UnknownModel(f"model {name!r} has no version {version}")
        pointing = sorted(alias for alias, target in self.aliases(name).items() if target == version)
        if pointing:
            raise VersionInUse(name, version, pointing)
        prefix = f"{name}/{version}/"
        self.objects.delete(prefix + MANIFEST)
        self._changed(name)  # readers stopped seeing it here; the files go after
        for key in self.objects.list(prefix):
            if not key.endswith("/" + CLAIM):
                self.objects.delete(key)
        self.objects.delete(prefix + CLAIM)

    def update_metrics(self, name: str, version: int, metrics: dict[str, Any]) -> Manifest:
        """Merge `metrics` into the manifest (a dict value one level deep), retried on a lost race."""
        def merge(manifest: Manifest) -> None:
            for key, value in metrics.items():
                current = manifest.metrics.get(key)
                merged = isinstance(value, dict) and isinstance(current, dict)
                manifest.metrics[key] = {**current, **value} if merged else value
        return self._update_manifest(name, version, merge)

    def attach_variant(self, name: str, version: int, variant: str, onnx_file: Path) -> Manifest:
        """Add another encoding of a version's network (e.g. fp16): the file, then the manifest naming it."""
        if not ALIAS_NAME.match(variant):
            raise ValueError(f"invalid variant name {variant!r}")
        self.manifest(name, version)  # UnknownModel before uploading anything
        file_name = f"model.{variant}.onnx"
        self.objects.upload(f"{name}/{version}/{file_name}", Path(onnx_file))
        return self._update_manifest(name, version, lambda manifest: manifest.variants.__setitem__(variant, file_name))

    def seed_from(self, other: RegistryReads) -> list[str]:
        """Copy every version of `other` (a ModelStore folder: the bundled zoo) that this store
        lacks, under its own number. Seeders write the same bytes, so one that finds another
        seeder's claim (several processes starting at once, or one that died half way) copies
        too, and the first manifest wins; a number someone registered is never written over."""
        copied = []
        for name in other.names():
            have = set(self.versions(name))
            changed = False
            for version in other.versions(name):
                if version in have or not (self._claim(name, version, seed=True) or self._seed_claimed(name, version)):
                    continue
                source = other.root / name / str(version)
                for path in sorted(source.iterdir()):
                    if path.is_file() and path.name != MANIFEST and not path.name.startswith("."):
                        self.objects.upload(f"{name}/{version}/{path.name}", path)
                try:
                    self.objects.put_if_absent(f"{name}/{version}/{MANIFEST}", (source / MANIFEST).read_bytes())
                    copied.append(f"{name}:{version}")
                    changed = True
                except PreconditionFailed:
                    pass  # another seeder finished first
            if self._update_aliases(name, other.aliases(name), keep_existing=True) or changed:
                self._changed(name)
        return copied

    # -- conditional writes --------------------------------------------------------------------

    def _claim_next(self, name: str) -> int:
        for _ in range(CAS_ATTEMPTS):
            keys = self.objects.list(f"{name}/")
            taken = [v for key in keys for v in (_version_of(key, CLAIM), _version_of(key, MANIFEST)) if v is not None]
            if self._claim(name, max(taken, default=0) + 1):
                return max(taken, default=0) + 1
        raise RuntimeError(f"could not claim a version number of {name!r} in {CAS_ATTEMPTS} tries")

    def _claim(self, name: str, version: int, *, seed: bool = False) -> bool:
        note = {"host": socket.gethostname(), "pid": os.getpid(), "at": time.time(), "seed": seed}
        try:
            self.objects.put_if_absent(f"{name}/{version}/{CLAIM}", json.dumps(note).encode())
            return True
        except PreconditionFailed:
            return False

    def _seed_claimed(self, name: str, version: int) -> bool:
        """Whether the number's claim is a seeder's (not a registration's)."""
        try:
            return json.loads(self.objects.get(f"{name}/{version}/{CLAIM}").data).get("seed", False)
        except ObjectMissing:
            return False

    def _update_aliases(self, name: str, updates: dict[str, int], *, keep_existing: bool = False) -> bool:
        """Whether the aliases changed (they may already say so)."""
        key = f"{name}/{ALIASES}"
        for _ in range(CAS_ATTEMPTS):
            try:
                current = self.objects.get(key)
            except ObjectMissing:
                current = None
            aliases = json.loads(current.data) if current else {}
            merged = {**updates, **aliases} if keep_existing else {**aliases, **updates}
            if current is not None and merged == aliases:
                return False
            data = (json.dumps(merged, indent=2, sort_keys=True) + "\n").encode()
            try:
                if current is None:
                    self.objects.put_if_absent(key, data)
                else:
                    self.objects.put_if_match(key, data, current.etag)
                return True
            except PreconditionFailed:
                continue  # another writer came in between: read theirs and apply ours on top
        raise RuntimeError(f"could not update the aliases of {name!r} in {CAS_ATTEMPTS} tries")

    def _update_manifest(self, name: str, version: int, change) -> Manifest:
        key = f"{name}/{version}/{MANIFEST}"
        for _ in range(CAS_ATTEMPTS):
            try:
                current = self.objects.get(key)
            except ObjectMissing:
                raise UnknownModel(f"model {name!r} has no version {version}") from None
            manifest = Manifest.model_validate_json(current.data)
            change(manifest)
            try:
                self.objects.put_if_match(key, _manifest_bytes(manifest), current.etag)
            except PreconditionFailed:
                continue
            self._changed(name)  # metrics or a variant: readers of this version see the new manifest
            return manifest
        raise RuntimeError(f"could not update {name}:{version}'s manifest in {CAS_ATTEMPTS} tries")


def _version_of(key: str, file_name: str) -> int | None:
    """'name/3/manifest.json' -> 3 for file_name 'manifest.json'; None for any other key."""
    parts = key.split("/")
    if len(parts) == 3 and parts[2] == file_name and parts[1].isascii() and parts[1].isdigit():
        return int(parts[1])
    return None


def _manifest_bytes(manifest: Manifest) -> bytes:
    return (manifest.model_dump_json(indent=2) + "\n").encode()
