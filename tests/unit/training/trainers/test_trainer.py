"""The DCGAN trainer on tiny data: it runs, it is deterministic, it stops and it resumes."""

import json

import numpy as np
import pytest
import torch

from training.data.datasets import BUILTIN_DATASETS, Dataset, load_builtin
from training.trainers.checkpoints import latest_checkpoint
from training.trainers.dcgan import DCGANConfig, train_dcgan


def tiny_dataset(n: int = 24, size: int = 8, classes: int = 3) -> Dataset:
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(n, 1, size, size)).astype(np.float32)
    labels = (np.arange(n) % classes).astype(np.int64)
    return Dataset("tiny", images, labels, [str(c) for c in range(classes)])


def tiny_config(**overrides) -> DCGANConfig:
    return DCGANConfig(**{"latent_dim": 4, "base_features": 4, "embed_dim": 2, "batch_size": 8, "steps": 6, **overrides})


def abort_after(checks: int):
    """An abort_fn that lets `checks` steps start, then asks to stop."""
    asked = []

    def abort() -> bool:
        asked.append(True)
        return len(asked) > checks

    return abort


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.mark.parametrize("conditional", [False, True])
def test_a_few_steps_run_and_report_progress(conditional):
    seen = []
    result = train_dcgan(
        tiny_config(conditional=conditional), tiny_dataset(), progress_fn=lambda *args: seen.append(args)
    )
    assert result.step == 6 and not result.aborted
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5, 6] and all(s[1] == 6 for s in seen)
    step, total, losses, images_per_sec = seen[-1]
    assert {"d", "g"} <= losses.keys() and all(np.isfinite(v) for v in losses.values())
    assert images_per_sec > 0
    assert not result.generator.training
    signature = result.signature()
    assert signature.inputs == (["z", "labels"] if conditional else ["z"])
    assert signature.num_classes == (3 if conditional else 0)


def test_same_seed_same_weights_other_seed_other_weights():
    first = train_dcgan(tiny_config(seed=3), tiny_dataset())
    second = train_dcgan(tiny_config(seed=3), tiny_dataset())
    third = train_dcgan(tiny_config(seed=4), tiny_dataset())
    assert_same_weights(first.generator, second.generator)
    w1, w3 = weights(first.generator), weights(third.generator)
    assert any(not torch.equal(w1[k], w3[k]) for k in w1)


def test_training_leaves_the_callers_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_dcgan(tiny_config(steps=1), tiny_dataset())
    assert torch.equal(torch.rand(3), expected)


def test_abort_fn_stops_before_the_next_step():
    steps_done = []
    result = train_dcgan(
        tiny_config(steps=100),
        tiny_dataset(),
        progress_fn=lambda step, *_: steps_done.append(step),
        abort_fn=abort_after(3),
    )
    assert result.aborted and result.step == 3
    assert steps_done == [1, 2, 3]


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path, ema_decay):
    data = tiny_dataset()
    config = tiny_config(steps=8, checkpoint_every=2, ema_decay=ema_decay, label_smoothing=0.1)
    straight = train_dcgan(config, data)

    # Stop after step 5: the abort saves a checkpoint at 5, beside the periodic one at 4.
    stopped = train_dcgan(config, data, checkpoint_dir=tmp_path, abort_fn=abort_after(5))
    assert stopped.aborted and stopped.step == 5
    assert latest_checkpoint(tmp_path).name == "step-00000005"
    meta = json.loads(latest_checkpoint(tmp_path).with_suffix(".json").read_text())
    assert meta["step"] == 5 and meta["config"]["seed"] == config.seed

    resumed = train_dcgan(config, data, checkpoint_dir=tmp_path)
    assert resumed.step == 8 and not resumed.aborted
    assert_same_weights(straight.generator, resumed.generator)
    assert len(list(tmp_path.glob("step-*.json"))) == 2  # older ones pruned


def test_a_checkpoint_from_different_settings_is_refused(tmp_path):
    data = tiny_dataset()
    train_dcgan(tiny_config(checkpoint_every=3), data, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="latent_dim"):
        train_dcgan(tiny_config(checkpoint_every=3, latent_dim=5), data, checkpoint_dir=tmp_path)
    # A longer run on the same settings continues where the last one ended.
    longer = train_dcgan(tiny_config(checkpoint_every=3, steps=9), data, checkpoint_dir=tmp_path)
    assert longer.step == 9


def test_checkpoints_hold_no_pickles(tmp_path):
    train_dcgan(tiny_config(checkpoint_every=6), tiny_dataset(), checkpoint_dir=tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".safetensors"]


@pytest.mark.parametrize("name, native", [("mnist-5k", 28), ("digits", 8)])
def test_builtin_datasets_load_offline_in_range(name, native):
    data = load_builtin(name)
    assert name in BUILTIN_DATASETS
    assert data.images.dtype == np.float32 and data.images.shape[1:] == (1, native, native)
    assert data.images.min() >= -1.0 and data.images.max() <= 1.0
    assert data.labels.dtype == np.int64 and data.class_names == [str(c) for c in range(10)]
    assert set(np.unique(data.labels)) == set(range(10))


def test_digits_upsample_to_a_requested_size():
    data = load_builtin("digits", image_size=32)
    assert data.images.shape == (1797, 1, 32, 32)
    assert data.images.min() >= -1.0 and data.images.max() <= 1.0


def test_unknown_dataset_names_the_built_in_ones():
    with pytest.raises(KeyError, match="mnist-5k"):
        load_builtin("imagenet")
