"""junyanz/pytorch-CycleGAN-and-pix2pix generators: `latest_net_G.pth` (pix2pix, or one CycleGAN
direction) and `latest_net_G_A.pth` + `latest_net_G_B.pth` (a CycleGAN's A->B and B->A).

That project saves `net.state_dict()` with torch.save. Its four generators are the ones
GANForge already has under the same parameter names:
- `unet_128` / `unet_256`: the recursive UnetSkipConnectionBlock, `model.model.0` the outermost
  down convolution and every inner level nested at `...model.1.model` then `...model.3.model`;
  the same module tree as models/pix2pix.py's UNetGenerator, key for key.
- `resnet_6blocks` / `resnet_9blocks`: one Sequential `model.N`, residual blocks at `model.10`
  on with their layers under `conv_block`; models/cyclegan.py's ResnetGenerator names that
  Sequential `block`, the only rename.

Everything the shapes decide is read from them: the depth (U-Net levels, residual blocks),
ngf, input and output channels, dropout in the residual blocks (it shifts their indices), and
the norm: batch norm has affine weights and bias-free convolutions, instance norm (affine=False)
has no tensors of its own and convolutions with biases. Checkpoints written before PyTorch 0.4
still carry running statistics for instance norm; the project's load_networks drops them
(`__patch_instance_norm_state_dict`) and so does this module. Options: `norm` (checked against
the keys, never overriding them) and `image_size` (the training size the service scales inputs
to: 2**levels for a U-Net, 256 for a ResNet by default).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from models.architectures import build, registered
from models.checkpoints.base import (
    NAMED_KEYS,
    Checkpoint,
    CheckpointRejected,
    Conversion,
    StateDict,
    check_tensors,
    option,
    tensors_of,
)
from models.manifest import TranslationDirection, TranslatorSignature

OPTIONS = ("norm", "image_size")
NORMS = ("batch", "instance")
ONNX_FILES = {"a2b": "model.onnx", "b2a": "b2a.onnx"}
RESNET_FIRST_BLOCK = 10  # pad, conv, norm, relu, then (conv, norm, relu) twice down
RESNET_STRIDE = 4  # two stride-2 convolutions
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 4096
_INSTANCE_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")

EVAL_MODE_NOTE = ("served in eval mode: dropout off and batch norm on its running statistics, so one input "
                  "always gives one answer; junyanz's test.py runs in train mode unless --eval is given "
                  "(batch statistics, dropout on), which only differs for batch norm or dropout")


@dataclass
class _Generator:
    """One direction read from its file, ready to load."""

    architecture: str
    config: dict[str, Any]
    module: nn.Module
    size_multiple: int
    default_image_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def channels(self) -> tuple[int, int]:
        return self.config["channels_in"], self.config["channels_out"]


def convert(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any]) -> Conversion:
    """A translator from latest_net_G.pth (a2b), or from a CycleGAN's G_A (a2b) and G_B (b2a)."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise CheckpointRejected(f"unknown option(s) for junyanz: {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    norm_option = option(options, "norm", None, NORMS) if "norm" in options else None
    files = _directions(checkpoints)
    generators = {direction: _read_generator(checkpoint, norm_option) for direction, checkpoint in files.items()}
    first = generators["a2b"]
    if "b2a" in generators:
        _check_pair(generators, files)
    image_size = _image_size(options, first)
    notes = [EVAL_MODE_NOTE]
    for direction, generator in generators.items():
        notes += [f"{files[direction].filename}: {note}" for note in generator.notes]
    return Conversion(
        task="translate",
        architecture=first.architecture,
        config={"family": "pix2pix" if first.architecture.startswith("unet") else "cyclegan",
                "directions": {d: g.config for d, g in generators.items()}},
        options={"norm": first.config["norm"], "image_size": image_size},
        networks={d: g.module for d, g in generators.items()},
        signature=TranslatorSignature(
            image_size=image_size,
            size_multiple=first.size_multiple,
            directions={d: TranslationDirection(onnx_file=ONNX_FILES[d], channels_in=g.channels[0],
                                                channels_out=g.channels[1])
                        for d, g in generators.items()},
        ),
        notes=notes,
    )


def _directions(checkpoints: Sequence[Checkpoint]) -> dict[str, Checkpoint]:
    """One file is a2b; two are a CycleGAN's G_A (a2b) and G_B (b2a), by file name, else in order."""
    if len(checkpoints) == 1:
        return {"a2b": checkpoints[0]}
    if len(checkpoints) != 2:
        raise CheckpointRejected(f"junyanz takes one generator file (latest_net_G.pth) or a CycleGAN's two "
                                 f"(latest_net_G_A.pth and latest_net_G_B.pth), not {len(checkpoints)} files")
    tags = [_direction_tag(c.filename) for c in checkpoints]
    if tags[0] is not None and tags[0] == tags[1]:
        raise CheckpointRejected(f"{checkpoints[0].filename} and {checkpoints[1].filename} are both "
                                 f"{'G_A' if tags[0] == 'a2b' else 'G_B'}; a CycleGAN's two directions are G_A and G_B")
    if set(tags) == {"a2b", "b2a"}:
        return dict(zip(tags, checkpoints))
    return {"a2b": checkpoints[0], "b2a": checkpoints[1]}


def _direction_tag(filename: str) -> str | None:
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if stem.endswith("G_A"):
        return "a2b"
    if stem.endswith("G_B"):
        return "b2a"
    return None


def _check_pair(generators: dict[str, _Generator], files: dict[str, Checkpoint]) -> None:
    """G_A and G_B are one CycleGAN's two directions: the same network, channels mirrored."""
    a2b, b2a = generators["a2b"], generators["b2a"]
    names = f"{files['a2b'].filename} (A->B) and {files['b2a'].filename} (B->A)"
    if a2b.architecture != b2a.architecture or a2b.config["norm"] != b2a.config["norm"]:
        raise CheckpointRejected(f"{names} are not one CycleGAN's two generators: {a2b.architecture} "
                                 f"({a2b.config['norm']} norm) and {b2a.architecture} ({b2a.config['norm']} norm)")
    if a2b.channels != b2a.channels[::-1]:
        raise CheckpointRejected(f"{names} do not mirror each other's channels: A->B maps {a2b.channels[0]} to "
                                 f"{a2b.channels[1]}, B->A maps {b2a.channels[0]} to {b2a.channels[1]}")


def _image_size(options: Mapping[str, Any], generator: _Generator) -> int:
    value = options.get("image_size", generator.default_image_size)
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = None
    if size is None or str(size) != str(value).strip() or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise CheckpointRejected(f"option image_size={value!r} is not a whole number of pixels from "
                                 f"{MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}")
    if size % generator.size_multiple:
        raise CheckpointRejected(f"option image_size={size} is not a multiple of {generator.size_multiple}, "
                                 f"the {generator.architecture} network's stride")
    return size


# --- one file --------------------------------------------------------------------------------

def _read_generator(checkpoint: Checkpoint, norm_option: str | None) -> _Generator:
    state, notes = _unwrapped(tensors_of(checkpoint.content))
    if "model.model.0.weight" in state:
        generator = _unet(state)
    elif "model.1.weight" in state and state["model.1.weight"].ndim == 4 and state["model.1.weight"].shape[-1] == 7:
        generator = _resnet(state)
    else:
        raise CheckpointRejected(
            f"{checkpoint.filename} is not a junyanz generator: expected 'model.model.0.weight' (unet_128, "
            f"unet_256) or a 7x7 'model.1.weight' (resnet_6blocks, resnet_9blocks); its first tensors are "
            f"{_first_keys(state)}")
    norm = generator.config["norm"]
    if norm_option is not None and norm_option != norm:
        evidence = "biases on its convolutions" if norm == "instance" else "batch norm weights and running statistics"
        raise CheckpointRejected(f"option norm={norm_option!r} contradicts {checkpoint.filename}, whose tensors "
                                 f"({evidence}) are a {norm}-norm {generator.architecture}")
    generator.notes += notes
    _load(generator, state, checkpoint.filename)
    return generator


def _unwrapped(state: StateDict) -> tuple[StateDict, list[str]]:
    """Strip the `module.` prefix a DataParallel-wrapped save leaves on every key."""
    if state and all(key.startswith("module.") for key in state):
        return {key[len("module."):]: value for key, value in state.items()}, ["stripped DataParallel's 'module.' prefix"]
    return state, []


def _unet(state: StateDict) -> _Generator:
    down = _shape(state, "model.model.0.weight", ndim=4)
    ngf, channels_in = down[0], down[1]
    channels_out = _shape(state, "model.model.3.weight", ndim=4)[1]  # ConvTranspose2d: [in, out, k, k]
    levels, prefix = 1, "model.model.1.model"
    while f"{prefix}.1.weight" in state:
        levels, prefix = levels + 1, prefix + ".3.model"
    if levels < 5:
        raise CheckpointRejected(f"a U-Net needs at least 5 levels; this one has {levels} "
                                 f"(no '{prefix}.1.weight')")
    norm = _norm(state, conv="model.model.0", norm_weight="model.model.1.model.2.weight")
    config = {"channels_in": channels_in, "channels_out": channels_out, "ngf": ngf, "norm": norm,
              # Dropout has no tensors and is off in eval mode; True is pix2pix's default.
              "use_dropout": True}
    architecture = f"unet_{2**levels}"
    if not _is_registered(architecture):
        architecture, config = "unet_generator", {**config, "num_downs": levels}
    module = build(architecture, **config)
    return _Generator(architecture, config, module, size_multiple=2**levels, default_image_size=2**levels)


def _resnet(state: StateDict) -> _Generator:
    first = _shape(state, "model.1.weight", ndim=4)
    ngf, channels_in = first[0], first[1]
    n_blocks = 0
    while f"model.{RESNET_FIRST_BLOCK + n_blocks}.conv_block.1.weight" in state:
        n_blocks += 1
    # Dropout sits between a block's two convolutions, moving the second from index 5 to 6.
    use_dropout = n_blocks > 0 and f"model.{RESNET_FIRST_BLOCK}.conv_block.5.weight" not in state
    last = f"model.{RESNET_FIRST_BLOCK + n_blocks + 7}.weight"  # 2 x (convT, norm, relu), pad, conv
    channels_out = _shape(state, last, ndim=4)[0]
    norm = _norm(state, conv="model.1", norm_weight="model.2.weight")
    config = {"channels_in": channels_in, "channels_out": channels_out, "ngf": ngf, "norm": norm,
              "use_dropout": use_dropout}
    architecture = f"resnet_{n_blocks}blocks"
    if not _is_registered(architecture):
        architecture, config = "resnet_generator", {**config, "n_blocks": n_blocks}
    module = build(architecture, **config)
    notes = ["dropout in the residual blocks (off when served)"] if use_dropout else []
    return _Generator(architecture, config, module, size_multiple=RESNET_STRIDE, default_image_size=256, notes=notes)


def _norm(state: StateDict, *, conv: str, norm_weight: str) -> str:
    """junyanz gives convolutions a bias only under instance norm (batch norm has its own shift)."""
    if f"{conv}.bias" in state:
        return "instance"
    if norm_weight in state:
        return "batch"
    raise CheckpointRejected(f"neither '{conv}.bias' (instance norm) nor '{norm_weight}' (batch norm) is present: "
                             f"a generator built with norm='none', which GANForge does not import")


def _load(generator: _Generator, state: StateDict, filename: str) -> None:
    """Check every tensor against the module GANForge built (under junyanz's names), then load."""
    state = dict(state)
    expected = {_junyanz_name(k): tuple(v.shape) for k, v in generator.module.state_dict().items()}
    dropped = []
    for name, norm in generator.module.named_modules():
        key = _junyanz_name(name)
        if isinstance(norm, nn.InstanceNorm2d):
            # What load_networks' __patch_instance_norm_state_dict drops: pre-0.4 instance norm stats.
            dropped += [f"{key}.{stat}" for stat in _INSTANCE_NORM_STATS if state.pop(f"{key}.{stat}", None) is not None]
        elif isinstance(norm, nn.BatchNorm2d) and f"{key}.num_batches_tracked" not in state:
            # Saved by PyTorch >= 0.4.1 only; it counts training steps and changes no output.
            state[f"{key}.num_batches_tracked"] = torch.tensor(0)
    if dropped:
        generator.notes.append(f"dropped {len(dropped)} instance-norm running statistics of a pre-0.4 checkpoint "
                               f"({', '.join(dropped[:2])}, ...), as junyanz's load_networks does")
    check_tensors(state, expected, what=f"junyanz {generator.architecture} ({generator.config['norm']} norm, "
                                        f"ngf {generator.config['ngf']}) generator in {filename}")
    generator.module.load_state_dict({_our_name(k): v for k, v in state.items()}, strict=True)
    generator.module.eval()


def _junyanz_name(ours: str) -> str:
    """models/cyclegan.py's `model.K.block.M` is junyanz's `model.K.conv_block.M`."""
    return f".{ours}.".replace(".block.", ".conv_block.")[1:-1]


def _our_name(junyanz: str) -> str:
    return f".{junyanz}.".replace(".conv_block.", ".block.")[1:-1]


def _shape(state: StateDict, key: str, *, ndim: int) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointRejected(f"missing tensor {key!r} (the junyanz layout found so far needs it); "
                                 f"the file's first tensors are {_first_keys(state)}")
    shape = tuple(state[key].shape)
    if len(shape) != ndim:
        raise CheckpointRejected(f"tensor {key!r} has shape {shape}; a convolution weight has {ndim} dimensions")
    return shape


def _first_keys(state: StateDict) -> str:
    keys = [f"{k} {tuple(v.shape)}" for k, v in list(state.items())[:NAMED_KEYS]]
    return ", ".join(keys) if keys else "none (the file holds no tensors)"


def _is_registered(name: str) -> bool:
    try:
        registered(name)
    except KeyError:
        return False
    return True
