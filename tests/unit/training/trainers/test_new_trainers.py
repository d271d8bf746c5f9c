"""The StyleGAN2 and InfoGAN trainers on the shared loop: a run resumed from a checkpoint equals
an uninterrupted one, losses are reported, and what they hand on exports."""

import torch

from training.data.datasets import load_builtin
from training.trainers.infogan import InfoGANConfig, sample_codes, train_infogan
from training.trainers.stylegan2 import StyleGAN2Config, train_stylegan2

STYLE = {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "base_channels": 8, "max_channels": 16, "batch_size": 8,
         "r1_every": 2, "pl_weight": 2.0, "pl_every": 2, "seed": 1}
INFO = {"latent_dim": 8, "base_features": 8, "batch_size": 8, "categorical_codes": [3], "continuous_codes": 1, "seed": 1}


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_stylegan2_resumed_equals_uninterrupted_and_reports_its_regularisers(tmp_path):
    digits = load_builtin("digits")
    seen = []
    whole = train_stylegan2(StyleGAN2Config(steps=4, conditional=True, **STYLE), digits,
                            progress_fn=lambda step, total, losses, rate: seen.append(losses))
    assert {"d", "g", "r1", "pl", "d_real", "d_fake"} <= set(seen[0]) and "r1" not in seen[1]
    train_stylegan2(StyleGAN2Config(steps=2, conditional=True, checkpoint_every=2, **STYLE), digits,
                    checkpoint_dir=tmp_path)
    resumed = train_stylegan2(StyleGAN2Config(steps=4, conditional=True, checkpoint_every=2, **STYLE), digits,
                              checkpoint_dir=tmp_path)
    assert resumed.step == 4 and same_weights(whole.generator, resumed.generator)
    assert whole.generator.w_avg.abs().sum() > 0  # the tracked average moved off its start


def test_stylegan2_refuses_a_size_that_is_not_a_power_of_two():
    import pytest

    with pytest.raises(ValueError, match="power-of-two"):
        train_stylegan2(StyleGAN2Config(steps=1, **STYLE), load_builtin("mnist-5k"))


def test_infogan_resumed_equals_uninterrupted_and_its_codes_have_the_manifest_layout(tmp_path):
    digits = load_builtin("digits")
    whole = train_infogan(InfoGANConfig(steps=4, **INFO), digits)
    assert {"d", "g", "info_categorical", "info_continuous"} <= set(whole.losses)
    train_infogan(InfoGANConfig(steps=2, checkpoint_every=2, **INFO), digits, checkpoint_dir=tmp_path)
    resumed = train_infogan(InfoGANConfig(steps=4, checkpoint_every=2, **INFO), digits, checkpoint_dir=tmp_path)
    assert same_weights(whole.generator, resumed.generator)
    signature = whole.signature()
    assert signature.inputs == ["z", "codes"] and [c["name"] for c in signature.codes] == ["category", "continuous_0"]
    codes, targets = sample_codes(signature.codes, 5, torch.Generator().manual_seed(0))
    assert codes.shape == (5, 4) and torch.equal(codes[:, :3].argmax(1), targets[0])


def test_evaluation_samples_style_and_infogan_versions_as_they_are_served(tmp_path):
    """Evaluation feeds each generator what its graph takes: the mapping graph first for a style
    model, the codes input for an InfoGAN."""
    import numpy as np

    from models.manifest import Provenance
    from models.store import ModelStore
    from training.evaluation.run import Evaluation, generate_samples
    from training.recipes.publish import publish_generator
    from training.recipes.stylegan2 import publish_style_generator

    digits = load_builtin("digits")
    store = ModelStore(tmp_path / "models")
    provenance = Provenance(trainer="test", dataset="digits", seed=1, steps=1)
    style = publish_style_generator(train_stylegan2(StyleGAN2Config(steps=1, **STYLE), digits), store, "s", provenance)
    info = publish_generator(train_infogan(InfoGANConfig(steps=1, **INFO), digits), store, "i", provenance)
    evaluation = Evaluation(models=store, datasets=None, real_stats_dir=tmp_path / "stats")
    for manifest in (style, info):
        images, labels = generate_samples(evaluation, manifest.signature, store.onnx_path(manifest), 300, seed=2)
        assert images.shape == (300, 1, 8, 8) and labels is None
        assert 0 <= images.min() and images.max() <= 1 and images.std() > 0
        again, _ = generate_samples(evaluation, manifest.signature, store.onnx_path(manifest), 300, seed=2)
        assert np.array_equal(images, again)
