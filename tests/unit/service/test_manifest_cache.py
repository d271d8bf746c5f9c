"""The API's manifest cache answers from memory and still sees every change to the registry at once."""

import pytest

from models.manifest import GeneratorSignature, Provenance
from models.store import ModelStore, UnknownModel
from service.api.model_refs import ManifestCache


def register(store: ModelStore, onnx: bytes, tmp_path, aliases=("latest",)) -> int:
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
    cache = ManifestCache(store)
    first = cache.resolve("toy")
    monkeypatch.setattr(store, "resolve", lambda ref: pytest.fail("read the registry again"))
    assert cache.resolve("toy") is first


def test_a_new_version_a_moved_alias_and_a_rewrite_are_seen_at_once(tmp_path):
    store = ModelStore(tmp_path / "models")
    register(store, b"one", tmp_path)
    cache = ManifestCache(store)
    assert cache.resolve("toy").version == 1 and cache.resolve("toy:latest").version == 1
    register(store, b"two", tmp_path)
    assert cache.resolve("toy").version == 2 and cache.resolve("toy:latest").version == 2
    store.set_alias("toy", "stable", 1)
    assert cache.resolve("toy:stable").version == 1
    store.set_alias("toy", "stable", 2)
    assert cache.resolve("toy:stable").version == 2
    store.update_metrics("toy", 2, {"fid": 12.5})
    assert cache.resolve("toy:2").metrics["fid"] == 12.5
    assert cache.resolve("toy").metrics["fid"] == 12.5


def test_a_deleted_version_is_unknown_at_once(tmp_path):
    store = ModelStore(tmp_path / "models")
    register(store, b"one", tmp_path)
    register(store, b"two", tmp_path, aliases=())
    cache = ManifestCache(store)
    assert cache.resolve("toy:2").version == 2
    store.delete_version("toy", 2)
    with pytest.raises(UnknownModel):
        cache.resolve("toy:2")
    with pytest.raises(UnknownModel):
        cache.resolve("other")
