"""junyanz (pytorch-CycleGAN-and-pix2pix) generators: random weights under that project's parameter
names and shapes, saved as it saves them (torch.save of the state dict), converted, and compared
with its forward pass written from the raw tensors with functional ops only
(tests/junyanz_reference.py)."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from junyanz_reference import resnet_reference, resnet_state, unet_reference, unet_state
from safetensors.torch import save_file

from models.checkpoints.base import Checkpoint, CheckpointRejected
from models.checkpoints.junyanz import convert
from models.checkpoints.loading import load_checkpoint
from models.translator_export import export_translator

TOLERANCE = 1e-4


# --- helpers ------------------------------------------------------------------------------------

def saved(tmp_path, state, filename="latest_net_G.pth") -> Checkpoint:
    """torch.save(net.state_dict(), path) as the project does, read back by the import's safe loader."""
    path = tmp_path / filename
    torch.save(state, path)
    return load_checkpoint(path, filename)


def images(batch, channels, height, width, seed=1):
    return torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, (batch, channels, height, width)).astype(np.float32))


def max_diff(module, reference, x):
    with torch.no_grad():
        return (module(x) - reference(x)).abs().max().item()


UNETS = {"unet_128": 7, "unet_256": 8}
RESNETS = {"resnet_6blocks": 6, "resnet_9blocks": 9}


# --- equal to the reference -------------------------------------------------------------------

@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("variant", sorted(UNETS))
def test_unet_equals_the_reference(tmp_path, variant, norm):
    num_downs = UNETS[variant]
    side = 2**num_downs
    state = unet_state(num_downs, ngf=4, channels_in=1, channels_out=3, norm=norm)
    conversion = convert([saved(tmp_path, state)], {})

    assert conversion.task == "translate" and conversion.architecture == variant
    config = conversion.config["directions"]["a2b"]
    assert (config["ngf"], config["channels_in"], config["channels_out"], config["norm"]) == (4, 1, 3, norm)
    signature = conversion.signature
    assert (signature.image_size, signature.size_multiple) == (side, side)
    assert signature.directions["a2b"].model_dump() == {"onnx_file": "model.onnx", "channels_in": 1, "channels_out": 3}
    assert any("eval mode" in note for note in conversion.notes)

    x = images(2, 1, side, side)
    assert max_diff(conversion.networks["a2b"], lambda t: unet_reference(state, t, num_downs, norm), x) <= TOLERANCE
    # The weights matter: a zero network would not pass the comparison above by accident.
    assert unet_reference(state, x, num_downs, norm).std() > 0.05


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("variant", sorted(RESNETS))
def test_resnet_equals_the_reference_at_a_non_square_size(tmp_path, variant, norm):
    n_blocks = RESNETS[variant]
    state = resnet_state(n_blocks, ngf=4, channels_in=3, channels_out=3, norm=norm)
    conversion = convert([saved(tmp_path, state)], {})

    assert conversion.architecture == variant
    assert conversion.config["directions"]["a2b"]["norm"] == norm
    assert (conversion.signature.image_size, conversion.signature.size_multiple) == (256, 4)
    x = images(2, 3, 36, 52)
    assert max_diff(conversion.networks["a2b"], lambda t: resnet_reference(state, t, n_blocks, norm), x) <= TOLERANCE
    assert resnet_reference(state, x, n_blocks, norm).std() > 0.05


def test_resnet_with_dropout_has_its_second_convolution_one_index_later(tmp_path):
    state = resnet_state(6, ngf=4, channels_in=3, channels_out=1, norm="batch", dropout=True)
    conversion = convert([saved(tmp_path, state)], {})

    assert conversion.config["directions"]["a2b"]["use_dropout"] is True
    assert conversion.signature.directions["a2b"].channels_out == 1
    x = images(1, 3, 32, 32)
    assert max_diff(conversion.networks["a2b"], lambda t: resnet_reference(state, t, 6, "batch", dropout=True), x) <= TOLERANCE


def test_checkpoints_without_num_batches_tracked_or_with_old_instance_norm_statistics_load(tmp_path):
    batch = unet_state(7, ngf=4, channels_in=3, channels_out=3, norm="batch")
    no_counter = OrderedDict((k, v) for k, v in batch.items() if not k.endswith("num_batches_tracked"))
    assert len(no_counter) < len(batch)
    convert([saved(tmp_path, no_counter)], {})

    instance = resnet_state(6, ngf=4, channels_in=3, channels_out=3, norm="instance")
    old = OrderedDict(instance)  # before PyTorch 0.4, InstanceNorm2d saved running statistics
    for key, channels in (("model.2", 4), ("model.10.conv_block.2", 16), ("model.15.conv_block.6", 16)):
        old[f"{key}.running_mean"], old[f"{key}.running_var"] = torch.full((channels,), 3.0), torch.full((channels,), 9.0)
    conversion = convert([saved(tmp_path, old)], {})
    assert any("dropped 6 instance-norm running statistics" in note for note in conversion.notes)
    x = images(1, 3, 24, 28)
    # ... and they are not used: instance norm normalises each image by its own statistics.
    assert max_diff(conversion.networks["a2b"], lambda t: resnet_reference(instance, t, 6, "instance"), x) <= TOLERANCE


def test_a_safetensors_file_converts_the_same(tmp_path):
    state = unet_state(7, ngf=4, channels_in=3, channels_out=1, norm="instance")
    save_file(dict(state), tmp_path / "latest_net_G.safetensors")
    conversion = convert([load_checkpoint(tmp_path / "latest_net_G.safetensors")], {})
    x = images(1, 3, 128, 128)
    assert max_diff(conversion.networks["a2b"], lambda t: unet_reference(state, t, 7, "instance"), x) <= TOLERANCE


def test_a_dataparallel_prefix_is_stripped(tmp_path):
    state = resnet_state(6, ngf=4, channels_in=3, channels_out=3, norm="instance")
    wrapped = OrderedDict((f"module.{k}", v) for k, v in state.items())
    conversion = convert([saved(tmp_path, wrapped)], {})
    assert any("module." in note for note in conversion.notes)


def test_a_cyclegan_pair_serves_both_directions_picked_by_file_name(tmp_path):
    g_a = resnet_state(6, ngf=4, channels_in=1, channels_out=3, norm="instance", seed=1)
    g_b = resnet_state(6, ngf=4, channels_in=3, channels_out=1, norm="instance", seed=2)
    # G_B first: the file names, not the order, say which direction is which.
    conversion = convert([saved(tmp_path, g_b, "latest_net_G_B.pth"), saved(tmp_path, g_a, "latest_net_G_A.pth")],
                         {"image_size": "128"})

    assert conversion.config["family"] == "cyclegan"
    assert conversion.signature.image_size == 128
    directions = {d: s.model_dump() for d, s in conversion.signature.directions.items()}
    assert directions == {"a2b": {"onnx_file": "model.onnx", "channels_in": 1, "channels_out": 3},
                          "b2a": {"onnx_file": "b2a.onnx", "channels_in": 3, "channels_out": 1}}
    x = images(1, 1, 40, 24)
    assert max_diff(conversion.networks["a2b"], lambda t: resnet_reference(g_a, t, 6, "instance"), x) <= TOLERANCE
    y = images(1, 3, 40, 24)
    assert max_diff(conversion.networks["b2a"], lambda t: resnet_reference(g_b, t, 6, "instance"), y) <= TOLERANCE


# --- ONNX export ------------------------------------------------------------------------------

# One of each network family (the others differ only in depth); an export takes seconds.
@pytest.mark.parametrize("variant, norm", [("unet_128", "batch"), ("resnet_6blocks", "instance")])
def test_converted_generators_export_with_parity(tmp_path, variant, norm):
    if variant in UNETS:
        state = unet_state(UNETS[variant], ngf=4, channels_in=3, channels_out=3, norm=norm)
    else:
        state = resnet_state(RESNETS[variant], ngf=4, channels_in=3, channels_out=3, norm=norm)
    conversion = convert([saved(tmp_path, state)], {"image_size": 64} if variant in RESNETS else {})
    signature = conversion.signature
    worst = export_translator(conversion.networks["a2b"], tmp_path / "model.onnx", channels_in=3,
                              size_multiple=signature.size_multiple, image_size=signature.image_size)
    assert worst <= TOLERANCE


# --- refusals name what is wrong --------------------------------------------------------------

def rejected(tmp_path, states, options=None, filenames=None) -> str:
    filenames = filenames or [f"latest_net_G_{i}.pth" for i in range(len(states))]
    with pytest.raises(CheckpointRejected) as caught:
        convert([saved(tmp_path, s, f) for s, f in zip(states, filenames)], options or {})
    return str(caught.value)


def test_missing_unexpected_and_misshaped_tensors_are_named(tmp_path):
    state = resnet_state(9, ngf=4, channels_in=3, channels_out=3, norm="batch")
    del state["model.12.conv_block.2.running_var"]
    state["model.5.weight"] = torch.ones(7)
    state["model.99.weight"] = torch.ones(1)
    message = rejected(tmp_path, [state])
    assert "missing tensors: model.12.conv_block.2.running_var" in message
    assert "model.5.weight (7,) (expected (8,))" in message
    assert "unexpected tensors: model.99.weight" in message


def test_a_discriminator_is_not_a_generator(tmp_path):
    d = OrderedDict([("model.0.weight", torch.zeros(64, 6, 4, 4)), ("model.0.bias", torch.zeros(64)),
                     ("model.1.weight", torch.zeros(128, 64, 4, 4))])
    message = rejected(tmp_path, [d], filenames=["latest_net_D.pth"])
    assert "latest_net_D.pth is not a junyanz generator" in message and "model.0.weight (64, 6, 4, 4)" in message


def test_a_file_that_is_not_a_state_dict_of_tensors(tmp_path):
    message = rejected(tmp_path, [{"epoch": 3, "model.1.weight": torch.zeros(1)}])
    assert "epoch" in message


@pytest.mark.parametrize("options, words", [
    ({"norm": "instance"}, "option norm='instance' contradicts"),
    ({"norm": "group"}, "option norm='group' is not one of"),
    ({"ngf": 64}, "unknown option(s) for junyanz: ngf"),
    ({"image_size": 102}, "image_size=102 is not a multiple of 4"),
    ({"image_size": "big"}, "image_size='big' is not a whole number"),
])
def test_options_the_keys_contradict_or_that_make_no_sense(tmp_path, options, words):
    state = resnet_state(6, ngf=4, channels_in=3, channels_out=3, norm="batch")
    assert words in rejected(tmp_path, [state], options)


def test_a_unet_image_size_must_be_a_multiple_of_its_depth(tmp_path):
    state = unet_state(7, ngf=4, channels_in=3, channels_out=3, norm="batch")
    assert "not a multiple of 128" in rejected(tmp_path, [state], {"image_size": 192})


def test_norm_none_is_refused_by_name(tmp_path):
    state = resnet_state(6, ngf=4, channels_in=3, channels_out=3, norm="instance")
    state = OrderedDict((k, v) for k, v in state.items() if not k.endswith(".bias") or k == "model.23.bias")
    assert "norm='none'" in rejected(tmp_path, [state])


def test_pairs_must_mirror_and_files_are_one_or_two(tmp_path):
    g_a = resnet_state(6, ngf=4, channels_in=3, channels_out=3, norm="instance")
    gray = resnet_state(6, ngf=4, channels_in=1, channels_out=3, norm="instance")
    assert "do not mirror each other's channels" in rejected(
        tmp_path, [g_a, gray], filenames=["latest_net_G_A.pth", "latest_net_G_B.pth"])
    unet = unet_state(7, ngf=4, channels_in=3, channels_out=3, norm="instance")
    assert "are not one CycleGAN's two generators" in rejected(tmp_path, [g_a, unet])
    assert "not 3 files" in rejected(tmp_path, [g_a, g_a, g_a])
    assert "are both G_A" in rejected(tmp_path, [g_a, g_a], filenames=["latest_net_G_A.pth", "horse2zebra_G_A.pth"])
