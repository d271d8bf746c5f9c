"""A request's `model` reference resolved to a registered version, for every endpoint that runs one.

Resolving from disk lists the model's folder, reads its aliases and parses the manifest (issue 13
found it 26% of the API's samples at c=32). `ManifestCache` answers a ref from memory behind
three stat() calls — the model's folder, its aliases file, the resolved version's manifest — so
a new version, a moved alias, a deleted or rewritten version is seen on the very next request:
the store writes each of them by rename (a new inode) into the folder.
"""

import os
import threading
from pathlib import Path

from models.manifest import Manifest
from models.store import ModelStore, UnknownModel, parse_model_ref
from service.api.caller import current_caller
from service.api.errors import Problem, unknown_model
from service.api.ownership import model_owner, model_owner_now, owner_visible
from service.api.state import ApiState

_Signature = tuple[tuple[int, int, int, int] | None, ...]


def _stat(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size, st.st_nlink


class ManifestCache:
    """Manifests of one store by ref ('name', 'name:3', 'name:alias'), checked against disk by stat."""

    def __init__(self, store: ModelStore):
        self.store = store
        self._entries: dict[str, tuple[_Signature, Manifest]] = {}
        self._lock = threading.Lock()

    def _signature(self, name: str, version: int) -> _Signature:
        folder = self.store.root / name
        return _stat(folder), _stat(folder / "aliases.json"), _stat(folder / str(version) / "manifest.json")

    def resolve(self, ref: str) -> Manifest:
        name, wanted = parse_model_ref(ref)
        key = f"{name}:{wanted}"
        cached = self._entries.get(key)
        if cached is not None:
            signature, manifest = cached
            if signature[2] is not None and self._signature(name, manifest.version) == signature:
                return manifest
        # Read again after the stat: a change landing between the first read and the stat is
        # not cached under the new signature.
        manifest = self.store.resolve(ref)
        signature = self._signature(name, manifest.version)
        after = self.store.resolve(ref)
        if after != manifest or signature[2] is None:
            return after
        with self._lock:
            self._entries[key] = (signature, manifest)
        return manifest


_caches: dict[str, ManifestCache] = {}
_caches_lock = threading.Lock()


def manifests_of(store: ModelStore) -> ManifestCache:
    """The process's cache for the store at this root."""
    root = str(store.root)
    cache = _caches.get(root)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(root, ManifestCache(store))
    return cache


def resolve_model(state: ApiState, ref: str, task: str) -> Manifest:
    """The manifest `ref` names (404 when there is none, or it is another owner's), checked to do
    `task` (422 otherwise)."""
    return _visible_manifest(state, ref, task, model_owner(state, ref.partition(":")[0]))


async def resolve_model_now(state: ApiState, ref: str, task: str) -> Manifest:
    """`resolve_model` on the event loop: the owner from its own Redis client, the manifest from
    memory (three stat() calls), no thread."""
    return _visible_manifest(state, ref, task, await model_owner_now(state, ref.partition(":")[0]))


def _visible_manifest(state: ApiState, ref: str, task: str, owner: str | None) -> Manifest:
    name = ref.partition(":")[0]
    caller = current_caller()
    if caller is None or not owner_visible(owner, caller):  # another owner's: as if there were none
        raise unknown_model(UnknownModel(f"no model named {name!r}"))
    try:
        manifest = manifests_of(state.models).resolve(ref)
    except UnknownModel as missing:
        raise unknown_model(missing) from None
    if manifest.task != task:
        raise Problem(
            422, "wrong-task", "Model does not do this",
            f"{manifest.ref} is a {manifest.task} model, not a {task} model",
            errors=[{"field": "model", "message": f"not a {task} model", "type": "wrong_task"}],
        )
    return manifest
