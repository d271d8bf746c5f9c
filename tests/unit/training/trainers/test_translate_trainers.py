"""The pix2pix and CycleGAN trainers on tiny data: callbacks, determinism, resume, the pool."""

import numpy as np
import pytest
import torch

from training.trainers.cyclegan import CycleGANConfig, ImagePool, train_cyclegan
from training.trainers.pix2pix import Pix2PixConfig, train_pix2pix

TINY = dict(image_size=32, channels_a=1, channels_b=1, ngf=4, ndf=4, n_layers_d=1, batch_size=2)


def data(seed: int, n: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 1, 32, 32)).astype(np.float32)


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in module.state_dict().values()]


def same(first: list[torch.Tensor], second: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(first, second, strict=True))


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path, family):
    train, config = (train_pix2pix, Pix2PixConfig(**TINY, generator="unet_32", steps=4, checkpoint_every=2)) if family == "pix2pix" \
        else (train_cyclegan, CycleGANConfig(**TINY, generator="resnet_6blocks", pool_size=3, steps=4, checkpoint_every=2))
    seen = []
    whole = train(config, data(0), data(1), progress_fn=lambda s, t, losses, r: seen.append((s, t, sorted(losses))))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4] and seen[-1][1] == 4
    again = train(config, data(0), data(1))
    assert same(weights(whole.generators["a2b"]), weights(again.generators["a2b"]))  # deterministic

    calls = iter([False, False, True])  # abort before the third step
    stopped = train(config, data(0), data(1), checkpoint_dir=tmp_path, abort_fn=lambda: next(calls))
    assert stopped.aborted and stopped.step == 2
    resumed = train(config, data(0), data(1), checkpoint_dir=tmp_path)
    assert resumed.step == 4 and not resumed.aborted
    for direction in whole.generators:
        assert same(weights(whole.generators[direction]), weights(resumed.generators[direction]))


def test_resume_refuses_different_settings(tmp_path):
    config = CycleGANConfig(**TINY, generator="resnet_6blocks", steps=2, checkpoint_every=1)
    train_cyclegan(config, data(0), data(1), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="lambda_cycle"):
        train_cyclegan(config.model_copy(update={"lambda_cycle": 5.0, "steps": 3}), data(0), data(1), checkpoint_dir=tmp_path)


def test_the_history_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(4, (1, 2, 2))
    rng = torch.Generator().manual_seed(0)
    first = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 1, 2, 2)
    assert torch.equal(pool.query(first, rng), first) and int(pool.count) == 4
    later = torch.arange(100.0, 300.0).reshape(200, 1, 1, 1).expand(200, 1, 2, 2)
    out = pool.query(later, rng)
    swapped = (out[:, 0, 0, 0] != later[:, 0, 0, 0]).float().mean().item()
    assert 0.3 < swapped < 0.7
    assert ImagePool(0, (1, 2, 2)).query(later, rng) is later


def test_pix2pix_refuses_unpaired_data():
    with pytest.raises(ValueError, match="pairs"):
        train_pix2pix(Pix2PixConfig(**TINY, steps=1), data(0, 4), data(1, 5))
