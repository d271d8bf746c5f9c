"""The model registry behaves alike in a folder (ModelStore), on objects in a folder and in a
bucket on a real S3 server (ObjectModelStore): one parametrized fixture, the same tests."""

import threading

import pytest

from models.artifacts import open_object_store
from models.artifacts.cache import ModelFileCache
from models.artifacts.model_store import ObjectModelStore
from models.manifest import GeneratorSignature, Provenance
from models.store import ModelStore, UnknownModel, VersionInUse


def object_registry(url: str, tmp_path, cache_bytes: int = 1 << 20) -> ObjectModelStore:
    return ObjectModelStore(open_object_store(url), ModelFileCache(tmp_path / "cache", cache_bytes), fresh_s=0)


@pytest.fixture(params=["folder", "objects-in-folder", "s3"])
def models(request, tmp_path):
    if request.param == "folder":
        return ModelStore(tmp_path / "models")
    if request.param == "objects-in-folder":
        return object_registry(str(tmp_path / "objects"), tmp_path)
    return object_registry(f"{request.getfixturevalue('s3_bucket')}/deploy/models", tmp_path)


def register(store, onnx: bytes, tmp_path, name="toy", aliases=("latest",), extra: dict[str, bytes] | None = None):
    path = tmp_path / f"upload-{onnx.hex()[:16]}.onnx"
    path.write_bytes(onnx)
    extras = []
    for file_name, data in (extra or {}).items():
        (tmp_path / file_name).write_bytes(data)
        extras.append(tmp_path / file_name)
    return store.register(
        name, path, task="generate", architecture="a", config={}, aliases=aliases, extra_files=tuple(extras),
        signature=GeneratorSignature(latent_dim=4, image_size=8, channels=1, inputs=["z"]),
        provenance=Provenance(trainer="t", dataset="d", seed=0, steps=1), parity_max_abs_diff=0.0,
    )


def test_versions_aliases_and_files(models, tmp_path):
    assert models.names() == [] and models.versions("toy") == []
    first = register(models, b"one", tmp_path, extra={"model.b2a.onnx": b"other way"})
    second = register(models, b"two", tmp_path, aliases=())
    assert (first.version, second.version) == (1, 2)
    assert models.names() == ["toy"] and models.versions("toy") == [1, 2]
    assert models.aliases("toy") == {"latest": 1}
    assert models.resolve("toy").version == 1 and models.resolve("toy:2").version == 2
    path = models.onnx_path(models.resolve("toy:1"))
    assert path.read_bytes() == b"one" and path.with_name("model.b2a.onnx").read_bytes() == b"other way"
    assert models.onnx_path(second).read_bytes() == b"two"
    assert second.onnx_sha256 != first.onnx_sha256
    models.set_alias("toy", "latest", 2)
    assert models.resolve_cached("toy").version == 2
    with pytest.raises(UnknownModel):
        models.resolve("toy:7")
    with pytest.raises(UnknownModel):
        models.resolve("nobody")
    with pytest.raises(UnknownModel):
        models.set_alias("toy", "stable", 9)


def test_metrics_variants_and_delete(models, tmp_path):
    register(models, b"one", tmp_path)
    register(models, b"two", tmp_path, aliases=())
    models.update_metrics("toy", 2, {"fid": 12.5, "gate": {"a": 1}})
    models.update_metrics("toy", 2, {"gate": {"b": 2}})
    assert models.resolve("toy:2").metrics == {"fid": 12.5, "gate": {"a": 1, "b": 2}}
    (tmp_path / "half.onnx").write_bytes(b"half")
    manifest = models.attach_variant("toy", 2, "fp16", tmp_path / "half.onnx")
    assert manifest.variants == {"fp16": "model.fp16.onnx"}
    assert models.onnx_path(models.resolve("toy:2")).with_name("model.fp16.onnx").read_bytes() == b"half"
    with pytest.raises(VersionInUse):
        models.delete_version("toy", 1)
    models.delete_version("toy", 2)
    assert models.versions("toy") == [1]
    with pytest.raises(UnknownModel):
        models.resolve("toy:2")


def test_latest_without_an_alias_skips_versions_the_gate_held_back(models, tmp_path):
    register(models, b"one", tmp_path, aliases=())
    register(models, b"two", tmp_path, aliases=())
    models.update_metrics("toy", 2, {"quality_gate": {"promoted": False}})
    assert models.resolve("toy").version == 1


def test_concurrent_registrations_get_distinct_versions_and_all_aliases_land(models, tmp_path):
    done = []

    def one(i: int) -> None:
        manifest = register(models, f"net {i}".encode(), tmp_path, aliases=(f"run{i}",))
        done.append(manifest.version)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(done) == [1, 2, 3, 4, 5, 6]
    aliases = models.aliases("toy")
    assert sorted(aliases) == [f"run{i}" for i in range(6)]
    for alias, version in aliases.items():  # each version holds the bytes its own writer uploaded
        assert models.onnx_path(models.resolve(f"toy:{version}")).read_bytes() == f"net {alias[3:]}".encode()


def test_seeding_copies_once_and_keeps_aliases_set_here(models, tmp_path):
    zoo = ModelStore(tmp_path / "zoo")
    register(zoo, b"bundled", tmp_path, name="digits")
    assert models.seed_from(zoo) == ["digits:1"]
    assert models.seed_from(zoo) == []
    assert models.onnx_path(models.resolve("digits")).read_bytes() == b"bundled"
    register(models, b"mine", tmp_path, name="digits")
    models.seed_from(zoo)
    assert models.resolve("digits").version == 2


def test_a_seeder_that_died_half_way_is_finished_by_the_next(tmp_path):
    zoo = ModelStore(tmp_path / "zoo")
    register(zoo, b"bundled", tmp_path, name="digits")
    registry = object_registry(str(tmp_path / "objects"), tmp_path)
    assert registry._claim("digits", 1, seed=True)  # a seeder claimed version 1, then died
    assert registry.seed_from(zoo) == ["digits:1"]
    assert registry.onnx_path(registry.resolve("digits")).read_bytes() == b"bundled"
    assert registry._claim("digits", 2)  # a registration's claim is never seeded over
    zoo_2 = register(zoo, b"bundled two", tmp_path, name="digits", aliases=())
    assert registry.seed_from(zoo) == [] and registry.versions("digits") == [1] and zoo_2.version == 2


def test_a_reader_never_sees_a_version_before_its_manifest(tmp_path):
    """Claim and files are up, the manifest not yet: the version does not exist for anyone."""
    registry = object_registry(str(tmp_path / "objects"), tmp_path)
    register(registry, b"one", tmp_path)
    registry.objects.put("toy/2/claim.json", b"{}")
    registry.objects.put("toy/2/model.onnx", b"half of it")
    assert registry.versions("toy") == [1] and registry.resolve("toy").version == 1
    assert register(registry, b"three", tmp_path).version == 3  # the claimed number is not reused


def test_the_model_cache_stays_under_its_bound(tmp_path):
    registry = object_registry(str(tmp_path / "objects"), tmp_path, cache_bytes=250)
    versions = [register(registry, bytes([i]) * 100, tmp_path) for i in range(4)]
    for manifest in versions:
        registry.onnx_path(manifest)
    assert registry.cache.size() <= 250
    cached = {path.name for path in (tmp_path / "cache").iterdir() if path.is_dir()}
    assert cached == {versions[2].onnx_sha256, versions[3].onnx_sha256}  # the two used last
    # an evicted one comes back on demand, and the one used least recently gives way
    assert registry.onnx_path(versions[0]).read_bytes() == bytes([0]) * 100
    cached = {path.name for path in (tmp_path / "cache").iterdir() if path.is_dir()}
    assert cached == {versions[3].onnx_sha256, versions[0].onnx_sha256}


def test_settings_choose_the_backend(tmp_path, s3_bucket):
    from models.store import open_model_store
    from service.core.settings import Settings

    local = Settings(state_dir=tmp_path / "state")
    assert type(open_model_store(**local.model_store_options)) is ModelStore  # the default: no new service
    assert open_model_store(**local.model_store_options).root == tmp_path / "state" / "artifacts" / "models"
    bucket = Settings(state_dir=tmp_path / "state", artifacts_url=f"{s3_bucket}/prod", model_cache_bytes=1000)
    registry = open_model_store(**bucket.model_store_options)
    assert isinstance(registry, ObjectModelStore) and registry.root == f"{s3_bucket}/prod/models"
    assert registry.cache.root == tmp_path / "state" / "model-cache" and registry.cache.max_bytes == 1000
