"""Loading a checkpoint file runs no code: safetensors and torch.load's weights-only unpickler only."""

import argparse
import pickle
import random

import pytest
import torch
from safetensors.torch import save_file

from models.checkpoints.base import CheckpointRejected
from models.checkpoints.loading import load_checkpoint


class NeedsCode:
    """Unpickling this needs the class itself: what an NVIDIA .pkl or torch.save(model) holds."""

    def __init__(self):
        self.weight = torch.ones(2)


def _state() -> dict[str, torch.Tensor]:
    return {"main.0.weight": torch.randn(3, 4), "main.1.running_var": torch.rand(4)}


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_safetensors_by_suffix_and_by_layout(tmp_path):
    state = _state()
    save_file(state, tmp_path / "netG.safetensors")
    assert _equal(dict(load_checkpoint(tmp_path / "netG.safetensors").content), state)
    (tmp_path / "netG.safetensors").rename(tmp_path / "weights.bin")  # no telling suffix: the header says
    loaded = load_checkpoint(tmp_path / "weights.bin", "weights.bin")
    assert loaded.filename == "weights.bin" and _equal(dict(loaded.content), state)


def test_torch_save_nested_and_legacy(tmp_path):
    state = _state()
    torch.save({"params_ema": state, "iter": 5}, tmp_path / "a.pth")
    torch.save(state, tmp_path / "b.pth", _use_new_zipfile_serialization=False)
    nested = load_checkpoint(tmp_path / "a.pth").content
    assert nested["iter"] == 5 and _equal(dict(nested["params_ema"]), state)
    assert _equal(dict(load_checkpoint(tmp_path / "b.pth").content), state)


def test_argparse_options_beside_the_weights_load(tmp_path):
    # stylegan2-pytorch's train.py saves its argparse options under "args".
    torch.save({"g_ema": _state(), "args": argparse.Namespace(size=256, latent=512)}, tmp_path / "s.pt")
    assert load_checkpoint(tmp_path / "s.pt").content["args"].size == 256


@pytest.mark.parametrize("save", ["torch", "pickle"])
def test_a_pickle_that_needs_code_is_refused_without_running_it(tmp_path, save):
    path = tmp_path / "network-snapshot.pkl"
    if save == "torch":
        torch.save({"G_ema": NeedsCode()}, path)
    else:
        path.write_bytes(pickle.dumps({"G_ema": NeedsCode()}, protocol=4))
    with pytest.raises(CheckpointRejected) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert "needs" in message and "state_dict" in message and "safetensors" in message
    if save == "torch":
        assert "NeedsCode" in message  # the class it wanted is named


@pytest.mark.parametrize("data", [b"hello, this is not a model" * 10, b"", b"PK\x03\x04broken zip"])
def test_garbage_is_refused(tmp_path, data):
    (tmp_path / "x.pth").write_bytes(data)
    with pytest.raises(CheckpointRejected, match="x.pth: not a PyTorch or safetensors file"):
        load_checkpoint(tmp_path / "x.pth")


def test_random_bytes_are_always_refused_never_an_error_of_their_own(tmp_path):
    """Garbage makes the weights-only unpickler fail in many ways (IndexError, TypeError, ...):
    each is a refusal, as CI found when one of them surfaced as a 500."""
    rng = random.Random(2000)
    for attempt in range(300):
        data = bytes(rng.getrandbits(8) for _ in range(rng.choice((16, 200, 2000))))
        if attempt % 3 == 1:
            data = b"\x80\x02" + data  # pickle's magic first: the unpickler reads further
        (tmp_path / "x.pth").write_bytes(data)
        with pytest.raises(CheckpointRejected):
            load_checkpoint(tmp_path / "x.pth")


def test_broken_safetensors_and_non_dicts_are_refused(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointRejected, match="not a readable safetensors file"):
        load_checkpoint(tmp_path / "x.safetensors")
    torch.save(torch.ones(3), tmp_path / "t.pth")
    with pytest.raises(CheckpointRejected, match="holds a Tensor, not a dict of tensors"):
        load_checkpoint(tmp_path / "t.pth")
