"""Architectures by name, their shapes, and ONNX export with its parity check."""

import numpy as np
import onnx
import pytest
import torch

from models.architectures import build, names, register, registered
from models.dcgan import start_size
from models.export import ExportParityError, check_parity, export_generator
from models.inference.sessions import open_session
from models.manifest import GeneratorSignature

TINY = {"base_features": 4}


def signature(conditional: bool, image_size: int = 8, latent_dim: int = 6) -> GeneratorSignature:
    return GeneratorSignature(
        latent_dim=latent_dim,
        num_classes=3 if conditional else 0,
        class_names=["a", "b", "c"] if conditional else [],
        image_size=image_size,
        channels=1,
        inputs=["z", "labels"] if conditional else ["z"],
    )


def test_registry_lists_the_dcgan_family():
    assert {"dcgan_generator", "dcgan_discriminator", "cdcgan_generator", "cdcgan_discriminator"} <= set(names())


def test_unknown_name_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="dcgan_generator"):
        build("no_such_gan")


def test_a_name_can_be_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        register("dcgan_generator")(torch.nn.Identity)
    assert registered("dcgan_generator").__name__ == "DCGANGenerator"


@pytest.mark.parametrize("image_size", [8, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_unconditional_shapes(image_size, channels):
    g = build("dcgan_generator", latent_dim=5, channels=channels, image_size=image_size, **TINY)
    d = build("dcgan_discriminator", channels=channels, image_size=image_size, **TINY)
    images = g(torch.randn(2, 5))
    assert images.shape == (2, channels, image_size, image_size)
    assert images.abs().max() <= 1.0  # tanh
    assert d(images).shape == (2,)


@pytest.mark.parametrize("image_size", [8, 28, 32])
def test_conditional_shapes(image_size):
    g = build("cdcgan_generator", latent_dim=5, num_classes=4, image_size=image_size, **TINY)
    d = build("cdcgan_discriminator", num_classes=4, image_size=image_size, **TINY)
    labels = torch.tensor([0, 3], dtype=torch.int64)
    images = g(torch.randn(2, 5), labels)
    assert images.shape == (2, 1, image_size, image_size)
    assert d(images, labels).shape == (2,)


def test_the_label_changes_the_conditional_output():
    g = build("cdcgan_generator", latent_dim=5, num_classes=4, image_size=8, **TINY).eval()
    z = torch.randn(1, 5)
    assert not torch.allclose(g(z, torch.tensor([0])), g(z, torch.tensor([1])))


def test_dcgan_initialisation():
    g = build("dcgan_generator", latent_dim=16, image_size=32, base_features=32)
    conv, norm = g.net[0], g.net[1]
    assert abs(conv.weight.std().item() - 0.02) < 0.002
    assert abs(norm.weight.mean().item() - 1.0) < 0.01


@pytest.mark.parametrize("size", [0, 7, 30, 100])
def test_unsupported_image_sizes_are_refused(size):
    with pytest.raises(ValueError, match="image_size"):
        start_size(size)


@pytest.mark.parametrize("conditional", [False, True])
def test_export_is_one_file_with_the_agreed_names_and_passes_parity(tmp_path, conditional):
    sig = signature(conditional)
    name = "cdcgan_generator" if conditional else "dcgan_generator"
    config = {"latent_dim": 6, "image_size": 8, **TINY, **({"num_classes": 3} if conditional else {})}
    generator = build(name, **config)
    path = tmp_path / "model.onnx"

    diff = export_generator(generator, sig, path)

    assert 0.0 <= diff <= 1e-4
    assert generator.training, "export must leave the module's mode as it found it"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # weights embedded, no .onnx.data
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == sig.inputs
    assert [o.name for o in graph.output] == ["images"]

    session = open_session(path)
    for batch in (1, 7, 32):  # the batch axis is dynamic
        feed = {"z": np.zeros((batch, 6), np.float32)}
        if conditional:
            feed["labels"] = np.arange(batch, dtype=np.int64) % 3
        (images,) = session.run(["images"], feed)
        assert images.shape == (batch, 1, 8, 8) and images.dtype == np.float32


def test_parity_check_fails_against_a_different_module(tmp_path):
    sig = signature(conditional=True)
    config = {"latent_dim": 6, "num_classes": 3, "image_size": 8, **TINY}
    torch.manual_seed(0)
    exported = build("cdcgan_generator", **config)
    torch.manual_seed(1)
    other = build("cdcgan_generator", **config)
    path = tmp_path / "model.onnx"
    export_generator(exported, sig, path)

    with pytest.raises(ExportParityError) as caught:
        check_parity(other, sig, path)
    assert caught.value.max_abs_diff > 1e-4


def test_parity_tolerance_is_enforced_on_export(tmp_path):
    generator = build("dcgan_generator", latent_dim=6, image_size=8, **TINY)
    with pytest.raises(ExportParityError):
        export_generator(generator, signature(conditional=False), tmp_path / "model.onnx", atol=-1.0)


def test_the_registry_imports_no_member_and_no_member_imports_another():
    """The registry and its member list are apart (no import circle), and architectures share
    layers through models/layers.py, never through a sibling."""
    import ast
    from pathlib import Path

    import models

    root = Path(models.__file__).parent
    members = {"cyclegan", "dcgan", "pix2pix", "rrdb", "sr_discriminator", "srresnet"}

    def imported(name: str) -> set[str]:
        tree = ast.parse((root / f"{name}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        return {m.removeprefix("models.") for m in found if m.startswith("models.")}

    assert imported("registry") == set()
    for member in members:
        assert not imported(member) & (members | {"architectures"}), member
