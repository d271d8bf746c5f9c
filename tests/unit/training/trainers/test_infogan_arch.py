"""InfoGAN's `arch` option: the paper's MNIST networks ("paper-fc": fully connected layers in G and
shared by D and Q) train, keep their architecture in the checkpoint's config, and export to ONNX
with the same (z, codes) inputs as the convolutional default."""

import numpy as np
import pytest
import torch

from models.architectures import build
from models.inference.codes import code_matrix
from models.inference.latents import sample_latents
from models.inference.sessions import open_session
from models.manifest import Provenance
from models.store import ModelStore
from training.data.datasets import load_builtin
from training.recipes.publish import publish_generator
from training.trainers.infogan import InfoGANConfig, train_infogan

SMALL = {"latent_dim": 8, "base_features": 8, "fc_features": 32, "batch_size": 8, "seed": 1}


def test_paper_fc_trains_and_exports_with_the_codes_input(tmp_path):
    result = train_infogan(InfoGANConfig(steps=2, arch="paper-fc", **SMALL), load_builtin("digits"))
    assert result.architecture_config["arch"] == "paper-fc" and result.architecture_config["fc_features"] == 32
    rebuilt = build(result.architecture, **result.architecture_config)
    assert rebuilt.state_dict().keys() == result.generator.state_dict().keys()
    store = ModelStore(tmp_path / "models")
    manifest = publish_generator(result, store, "info", Provenance(trainer="test", dataset="digits", seed=1, steps=2))
    assert manifest.signature.inputs == ["z", "codes"] and manifest.parity_max_abs_diff < 1e-4
    feeds = {"z": sample_latents(3, 5, 8), "codes": code_matrix(manifest.signature.codes, 5, 3, {"category": 4})}
    images = open_session(store.onnx_path(manifest)).run(None, feeds)[0]
    assert images.shape == (5, 1, 8, 8) and np.abs(images).max() <= 1


def test_conv_stays_the_default_and_keeps_its_saved_config():
    result = train_infogan(InfoGANConfig(steps=1, **SMALL), load_builtin("digits"))
    assert "arch" not in result.architecture_config  # configs saved before the option still build the same net
    assert not any(isinstance(m, torch.nn.Linear) for m in result.generator.modules())


def test_an_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="paper-fc"):
        build("infogan_generator", arch="mlp")
    with pytest.raises(ValueError):
        InfoGANConfig(arch="mlp")


def test_q_can_train_with_the_generator_alone(tmp_path):
    """info_trains_body false: Q's head moves (with the generator's optimiser) while the body
    learns real from fake only; a resumed run still equals an uninterrupted one."""
    digits = load_builtin("digits")
    config = {"arch": "paper-fc", "info_trains_body": False, **SMALL}
    whole = train_infogan(InfoGANConfig(steps=4, **config), digits)
    assert whole.losses["info_categorical"] > 0
    train_infogan(InfoGANConfig(steps=2, checkpoint_every=2, **config), digits, checkpoint_dir=tmp_path)
    resumed = train_infogan(InfoGANConfig(steps=4, checkpoint_every=2, **config), digits, checkpoint_dir=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(whole.generator.state_dict().values(),
                                                 resumed.generator.state_dict().values()))
