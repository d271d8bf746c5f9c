"""junyanz (pytorch-CycleGAN-and-pix2pix) generators: random weights under that project's parameter
names and shapes, saved as it saves them (torch.save of the state dict), converted, and compared
with a forward pass written here from the raw tensors with functional ops only."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.checkpoints.base import Checkpoint, CheckpointRejected
from models.checkpoints.junyanz import convert
from models.translator_export import export_translator

TOLERANCE = 1e-4
EPS = 1e-5  # BatchNorm2d's and InstanceNorm2d's default


# --- the reference layout: names and shapes ---------------------------------------------------

class _Weights:
    """Seeded random tensors, appended in the order the reference module registers them."""

    def __init__(self, seed: int, norm: str):
        self.generator = torch.Generator().manual_seed(seed)
        self.norm = norm
        self.state: OrderedDict[str, torch.Tensor] = OrderedDict()

    def _random(self, *shape, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=self.generator) * scale

    def conv(self, key: str, out_c: int, in_c: int, k: int, *, bias: bool | None = None, transposed: bool = False):
        bias = self.norm == "instance" if bias is None else bias
        fan_in = in_c * k * k / (4 if transposed else 1)  # inputs that reach one output: activations stay of order one
        shape = (in_c, out_c, k, k) if transposed else (out_c, in_c, k, k)
        self.state[f"{key}.weight"] = self._random(*shape, scale=1.0 / fan_in**0.5)
        if bias:
            self.state[f"{key}.bias"] = self._random(out_c, scale=0.1)

    def norm_layer(self, key: str, channels: int):
        if self.norm == "batch":
            self.state[f"{key}.weight"] = 1 + self._random(channels, scale=0.1)
            self.state[f"{key}.bias"] = self._random(channels, scale=0.1)
            self.state[f"{key}.running_mean"] = self._random(channels, scale=0.1)
            self.state[f"{key}.running_var"] = 0.5 + torch.rand(channels, generator=self.generator)
            self.state[f"{key}.num_batches_tracked"] = torch.tensor(1234)


def unet_prefix(level: int) -> str:
    return "model.model" if level == 0 else "model.model.1.model" + ".3.model" * (level - 1)


def unet_widths(level: int, ngf: int, channels_out: int) -> tuple[int, int]:
    """(outer, inner) channels of a U-Net level, outermost first."""
    if level == 0:
        return channels_out, ngf
    return ngf * min(2 ** (level - 1), 8), ngf * min(2**level, 8)


def unet_state(num_downs: int, ngf: int, channels_in: int, channels_out: int, norm: str, seed: int = 0):
    w = _Weights(seed, norm)
    for level in range(num_downs):
        p, (outer, inner) = unet_prefix(level), unet_widths(level, ngf, channels_out)
        if level == 0:
            w.conv(f"{p}.0", inner, channels_in, 4)
        elif level == num_downs - 1:
            w.conv(f"{p}.1", inner, outer, 4)
            w.conv(f"{p}.3", outer, inner, 4, transposed=True)
            w.norm_layer(f"{p}.4", outer)
        else:
            w.conv(f"{p}.1", inner, outer, 4)
            w.norm_layer(f"{p}.2", inner)
    # The up halves are registered after each level's submodule: walk back out.
    for level in reversed(range(num_downs - 1)):
        p, (outer, inner) = unet_prefix(level), unet_widths(level, ngf, channels_out)
        if level == 0:
            w.conv(f"{p}.3", outer, inner * 2, 4, bias=True, transposed=True)
        else:
            w.conv(f"{p}.5", outer, inner * 2, 4, transposed=True)
            w.norm_layer(f"{p}.6", outer)
    return _registration_order(w.state)


def _registration_order(state):
    """state_dict() order: depth first through the nested Sequentials, by index."""
    def sort_key(key):
        return [int(part) if part.isdigit() else -1 for part in key.split(".") if part != "model"]
    return OrderedDict(sorted(state.items(), key=lambda item: sort_key(item[0])))


def resnet_state(n_blocks: int, ngf: int, channels_in: int, channels_out: int, norm: str, *, dropout: bool = False,
                 seed: int = 0):
    w = _Weights(seed, norm)
    w.conv("model.1", ngf, channels_in, 7)
    w.norm_layer("model.2", ngf)
    w.conv("model.4", ngf * 2, ngf, 3)
    w.norm_layer("model.5", ngf * 2)
    w.conv("model.7", ngf * 4, ngf * 2, 3)
    w.norm_layer("model.8", ngf * 4)
    second = 6 if dropout else 5
    for k in range(10, 10 + n_blocks):
        w.conv(f"model.{k}.conv_block.1", ngf * 4, ngf * 4, 3)
        w.norm_layer(f"model.{k}.conv_block.2", ngf * 4)
        w.conv(f"model.{k}.conv_block.{second}", ngf * 4, ngf * 4, 3)
        w.norm_layer(f"model.{k}.conv_block.{second + 1}", ngf * 4)
    up = 10 + n_blocks
    w.conv(f"model.{up}", ngf * 2, ngf * 4, 3, transposed=True)
    w.norm_layer(f"model.{up + 1}", ngf * 2)
    w.conv(f"model.{up + 3}", ngf, ngf * 2, 3, transposed=True)
    w.norm_layer(f"model.{up + 4}", ngf)
    w.conv(f"model.{up + 7}", channels_out, ngf, 7, bias=True)
    return w.state


# --- the reference computation: functional ops on the raw tensors ----------------------------

def _norm(x, sd, key, norm):
    if norm == "instance":
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + EPS)
    shape = (1, -1, 1, 1)
    scale = sd[f"{key}.weight"].view(shape) / torch.sqrt(sd[f"{key}.running_var"].view(shape) + EPS)
    return (x - sd[f"{key}.running_mean"].view(shape)) * scale + sd[f"{key}.bias"].view(shape)


def _conv(x, sd, key, **kw):
    return F.conv2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), **kw)


def _up(x, sd, key, **kw):
    return F.conv_transpose2d(x, sd[f"{key}.weight"], sd.get(f"{key}.bias"), **kw)


def unet_reference(sd, x, num_downs, norm):
    def level(k, x):
        p = unet_prefix(k)
        if k == 0:
            h = block(1, _conv(x, sd, f"{p}.0", stride=2, padding=1))
            return torch.tanh(_up(F.relu(h), sd, f"{p}.3", stride=2, padding=1))
        h = _conv(F.leaky_relu(x, 0.2), sd, f"{p}.1", stride=2, padding=1)
        if k == num_downs - 1:
            h = _norm(_up(F.relu(h), sd, f"{p}.3", stride=2, padding=1), sd, f"{p}.4", norm)
        else:
            h = block(k + 1, _norm(h, sd, f"{p}.2", norm))
            h = _norm(_up(F.relu(h), sd, f"{p}.5", stride=2, padding=1), sd, f"{p}.6", norm)
        return h

    def block(k, x):
        return torch.cat([x, level(k, x)], 1)

    return level(0, x)


def resnet_reference(sd, x, n_blocks, norm, dropout=False):
    def pad(h, p):
        return F.pad(h, (p, p, p, p), mode="reflect")

    h = F.relu(_norm(_conv(pad(x, 3), sd, "model.1"), sd, "model.2", norm))
    h = F.relu(_norm(_conv(h, sd, "model.4", stride=2, padding=1), sd, "model.5", norm))
    h = F.relu(_norm(_conv(h, sd, "model.7", stride=2, padding=1), sd, "model.8", norm))
    second = 6 if dropout else 5
    for k in range(10, 10 + n_blocks):
        b = f"model.{k}.conv_block"
        r = F.relu(_norm(_conv(pad(h, 1), sd, f"{b}.1"), sd, f"{b}.2", norm))
        h = h + _norm(_conv(pad(r, 1), sd, f"{b}.{second}"), sd, f"{b}.{second + 1}", norm)
    up = 10 + n_blocks
    h = F.relu(_norm(_up(h, sd, f"model.{up}", stride=2, padding=1, output_padding=1), sd, f"model.{up + 1}", norm))
    h = F.relu(_norm(_up(h, sd, f"model.{up + 3}", stride=2, padding=1, output_padding=1), sd, f"model.{up + 4}", norm))
    return torch.tanh(_conv(pad(h, 3), sd, f"model.{up + 7}"))


# --- helpers ------------------------------------------------------------------------------------

def saved(tmp_path, state, filename="latest_net_G.pth") -> Checkpoint:
    """torch.save(net.state_dict(), path) as the project does, read back safely."""
    path = tmp_path / filename
    torch.save(state, path)
    return Checkpoint(filename, torch.load(path, weights_only=True))


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
