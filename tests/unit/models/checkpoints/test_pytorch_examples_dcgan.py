"""pytorch-examples-dcgan: random weights under netG.pth's names, converted, equal to the reference
network computed step by step with torch.nn.functional."""

import pytest
import torch
from dcgan_reference import reference_forward, reference_state
from safetensors.torch import save_file

from models.checkpoints import (
    FORMATS,
    UnknownFormat,
    convert,
    format_names,
    is_available,
)
from models.checkpoints.base import Checkpoint, CheckpointRejected
from models.checkpoints.loading import load_checkpoint
from models.checkpoints.publish import (
    import_aliases,
    import_provenance,
    publish_conversion,
)
from models.inference.latents import sample_latents
from models.inference.sessions import open_session
from models.manifest import SourceFile
from models.store import ModelStore


@pytest.mark.parametrize("saved_as", ["torch", "safetensors"])
def test_converted_generator_equals_the_reference(tmp_path, saved_as):
    state = reference_state(nz=7, ngf=2, nc=3)
    path = tmp_path / ("netG.pth" if saved_as == "torch" else "netG.safetensors")
    torch.save(state, path) if saved_as == "torch" else save_file(state, path)
    conversion = convert("pytorch-examples-dcgan", [load_checkpoint(path)], {})
    assert conversion.task == "generate" and conversion.architecture == "dcgan_generator"
    assert conversion.config == {"latent_dim": 7, "channels": 3, "image_size": 64, "base_features": 2}
    signature = conversion.signature
    assert (signature.latent_dim, signature.image_size, signature.channels, signature.inputs) == (7, 64, 3, ["z"])
    z = torch.randn(4, 7, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = conversion.networks["generator"](z)
    expected = reference_forward(state, z)
    assert ours.shape == (4, 3, 64, 64)
    assert (ours - expected).abs().max().item() <= 1e-4


def test_gray_and_wider_nets_and_dataparallel_names(tmp_path):
    state = {f"module.{k}": v for k, v in reference_state(nz=5, ngf=3, nc=1).items()}
    torch.save(state, tmp_path / "netG.pth")
    conversion = convert("pytorch-examples-dcgan", [load_checkpoint(tmp_path / "netG.pth")], {})
    assert conversion.config == {"latent_dim": 5, "channels": 1, "image_size": 64, "base_features": 3}


def test_mis_shaped_missing_and_unexpected_tensors_are_named():
    state = reference_state()
    state["main.4.weight"] = torch.ones(5)
    with pytest.raises(CheckpointRejected, match=r"mis-shaped tensors: main\.4\.weight \(5,\) \(expected \(8,\)\)"):
        convert("pytorch-examples-dcgan", [_checkpoint(state)], {})
    state = reference_state()
    del state["main.7.running_var"]
    state["main.99.weight"] = torch.ones(1)
    with pytest.raises(CheckpointRejected) as refused:
        convert("pytorch-examples-dcgan", [_checkpoint(state)], {})
    assert "missing tensors: main.7.running_var" in str(refused.value)
    assert "unexpected tensors: main.99.weight" in str(refused.value)


def test_other_layouts_and_options_are_refused():
    with pytest.raises(CheckpointRejected, match="main.0.weight"):
        convert("pytorch-examples-dcgan", [_checkpoint({"conv1.weight": torch.ones(3, 3, 3, 3)})], {})
    with pytest.raises(CheckpointRejected, match="takes no options"):
        convert("pytorch-examples-dcgan", [_checkpoint(reference_state())], {"nz": 100})
    with pytest.raises(CheckpointRejected, match="one file"):
        convert("pytorch-examples-dcgan", [_checkpoint(reference_state())] * 2, {})


def test_published_version_serves_the_reference_and_keeps_latest(tmp_path):
    """Exported with the parity check, registered with its provenance; a second import leaves
    `latest` where it was unless promoted."""
    state = reference_state(nz=6, ngf=1, nc=3)
    conversion = convert("pytorch-examples-dcgan", [_checkpoint(state)], {})
    store = ModelStore(tmp_path / "models")
    files = [SourceFile(name="netG.pth", sha256="ab" * 32)]
    provenance = import_provenance("pytorch-examples-dcgan", files, {}, conversion.notes)
    first = publish_conversion(conversion, store, "dcgan64", provenance, import_aliases(store, "dcgan64", None))
    assert first.version == 1 and first.parity_max_abs_diff <= 1e-4
    assert first.provenance.trainer == "import:pytorch-examples-dcgan"
    assert first.provenance.imported_from.files == files
    z = sample_latents(3, 2, 6)
    (served,) = open_session(store.onnx_path(first)).run(["images"], {"z": z})
    assert abs(served - reference_forward(state, torch.from_numpy(z)).numpy()).max() <= 1e-4

    second = publish_conversion(conversion, store, "dcgan64", provenance, import_aliases(store, "dcgan64", None))
    assert second.version == 2 and store.aliases("dcgan64") == {"latest": 1}
    publish_conversion(conversion, store, "dcgan64", provenance, import_aliases(store, "dcgan64", "always"))
    assert store.aliases("dcgan64") == {"latest": 3}


def _checkpoint(state):
    return Checkpoint(filename="netG.pth", content=state)


def test_the_format_table_names_the_known_formats_and_a_missing_module(monkeypatch):
    with pytest.raises(UnknownFormat) as unknown:
        convert("nvidia-stylegan3", [_checkpoint(reference_state())], {})
    assert all(name in str(unknown.value) for name in format_names())
    monkeypatch.setitem(FORMATS, "not-written-yet", "models.checkpoints.not_written_yet")
    assert not is_available("not-written-yet") and is_available("pytorch-examples-dcgan")
    with pytest.raises(UnknownFormat, match="'not-written-yet' is not available"):
        convert("not-written-yet", [_checkpoint(reference_state())], {})
