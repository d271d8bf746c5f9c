"""ModelStore.resolve_cached answers from memory and still sees every change to the registry at once."""

import pytest

from models.artifacts.model_store import ObjectModelStore
from models.manifest import GeneratorSignature, Provenance
from models.store import ModelStore, UnknownModel


def register(store: ModelStore | ObjectModelStore, onnx: bytes, tmp_path, aliases=("latest",)) -> int:
    """Version `toy` from `onnx` in either registry (test_model_changes registers on a bucket)."""
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx)
    return store.register(
        "toy", path, task="generate", architecture="a", config={}, aliases=aliases,
        signature=GeneratorSignature(latent_dim=4, image_size=8, channels=1, inputs=["z"]),
        provenance=Provenance(trainer="t", dataset="d", seed=0, steps=1), parity_max_abs_diff=0.0,
    ).version


def test_a_repeat_is_served_from_memory(tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "models")
    register(store, b"one", tmp_path)
    first = store.resolve_cached("toy")
    monkeypatch.setattr(store, "resolve", lambda ref: pytest.fail("read the registry again"))
    assert store.resolve_cached("toy") is first


def test_a_new_version_a_moved_alias_and_a_rewrite_are_seen_at_once(tmp_path):
    store = ModelStore(tmp_path / "models")
    register(store, b"one", tmp_path)
    assert store.resolve_cached("toy").version == 1 and store.resolve_cached("toy:latest").version == 1
    register(store, b"two", tmp_path)
    assert store.resolve_cached("toy").version == 2 and store.resolve_cached("toy:latest").version == 2
    store.set_alias("toy", "stable", 1)
    assert store.resolve_cached("toy:stable").version == 1
    store.set_alias("toy", "stable", 2)
    assert store.resolve_cached("toy:stable").version == 2
    store.update_metrics("toy", 2, {"fid": 12.5})
    assert store.resolve_cached("toy:2").metrics["fid"] == 12.5
    assert store.resolve_cached("toy").metrics["fid"] == 12.5


def test_a_deleted_version_is_unknown_at_once(tmp_path):
    store = ModelStore(tmp_path / "models")
    register(store, b"one", tmp_path)
    register(store, b"two", tmp_path, aliases=())
    assert store.resolve_cached("toy:2").version == 2
    store.delete_version("toy", 2)
    with pytest.raises(UnknownModel):
        store.resolve_cached("toy:2")
    with pytest.raises(UnknownModel):
        store.resolve_cached("other")


def test_an_exact_version_is_checked_by_its_manifest_alone(tmp_path, monkeypatch):
    store = ModelStore(tmp_path / "models")
    register(store, b"one", tmp_path)
    first = store.resolve_cached("toy:1")
    # Another process registers: the folder and the aliases change; version 1 does not. (This
    # process's own writes drop its answers about the model, stat or not.)
    register(ModelStore(tmp_path / "models"), b"two", tmp_path)
    monkeypatch.setattr(store, "resolve", lambda ref: pytest.fail("read the registry again"))
    assert store.resolve_cached("toy:1") is first
