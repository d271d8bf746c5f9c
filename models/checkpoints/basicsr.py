"""The `basicsr` format: BasicSR's MSRResNet and RRDBNet (ESRGAN) checkpoints.

BasicSR saves a network as {"params": state_dict}, and with an EMA also {"params_ema": ...}; the
EMA weights are the ones its releases evaluate, so they are read first (option `param_key` picks
one). A flat state dict is read as it is.

MSRResNet (basicsr/archs/srresnet_arch.py) is models/srresnet.py's MSRResNet with the
"progressive" upsampler and the bilinear global residual, layer for layer:

    conv_first -> LeakyReLU(0.1) -> body.N.conv1 / conv2 (x + conv2(ReLU(conv1(x))))
    -> upconv1 -> PixelShuffle(2) -> LeakyReLU(0.1) [-> upconv2 -> ... for x4]
    -> conv_hr -> LeakyReLU(0.1) -> conv_last, + the input upsampled bilinearly

RRDBNet (basicsr/archs/rrdbnet_arch.py, which Real-ESRGAN reuses) is models/rrdb.py's RRDBNet with
the "nearest" upsampler: conv_first, body.N.rdb1..3.conv1..5, conv_body, conv_up1, conv_up2,
conv_hr, conv_last; x2 and x1 networks read a pixel-unshuffled input (conv_first takes 3*4 or
3*16 channels). Widths, block counts and the scale come from the tensor shapes.

The ESRGAN repository's own x4 checkpoints (RRDB_ESRGAN_x4.pth, RRDB_PSNR_x4.pth) are the same
network under older names, read here by renaming them to BasicSR's: its RRDBNet_arch.py layout
(RRDB_trunk.N.RDB1.conv1, trunk_conv, upconv1, upconv2, HRconv) and the first release's
sequential one (model.0, model.1.sub.N.RDB1.conv1.0, model.1.sub.<blocks>, model.3, model.6,
model.8, model.10).
"""

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

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
from models.manifest import UpscalerSignature
from models.rrdb import NEAREST_UNSHUFFLE, RRDBNet
from models.srresnet import MSRResNet

PARAM_KEYS = ("params_ema", "params")
OPTIONS = ("param_key",)
# BasicSR's SR recipes train on 128-px high-resolution crops; the manifest records the low-resolution side.
TRAINED_GT_SIZE = 128

MSRRESNET = "BasicSR MSRResNet"
RRDBNET = "BasicSR RRDBNet (ESRGAN)"
ESRGAN = "ESRGAN repository RRDBNet"
# conv_first's input channels over the image's: how far RRDBNet folds its input, and the scale that gives.
RRDB_SCALE_BY_FOLD = {unshuffle ** 2: scale for scale, unshuffle in NEAREST_UNSHUFFLE.items()}


def convert(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any]) -> Conversion:
    state = state_dict_of(checkpoints, options, "basicsr", OPTIONS)
    esrgan = esrgan_layout(state)
    if esrgan is not None:
        conversion = rrdbnet_conversion(basicsr_names_of_esrgan(state, esrgan),
                                        what=f"{ESRGAN} (its names read as BasicSR's)", trained_gt_size=TRAINED_GT_SIZE)
    elif "upconv1.weight" in state:
        conversion = msrresnet_conversion(state)
    elif is_rrdbnet(state):
        conversion = rrdbnet_conversion(state, what=RRDBNET, trained_gt_size=TRAINED_GT_SIZE)
    else:
        raise CheckpointRejected(f"not a {MSRRESNET} or {RRDBNET} checkpoint: expected upconv1.weight "
                                 f"(MSRResNet) or conv_up1.weight (RRDBNet); its first tensors are {first_keys(state)}")
    conversion.options = dict(options)
    return conversion


# --- shared with the realesrgan format ---------------------------------------------------------

def state_dict_of(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any], fmt: str,
                  known_options: tuple[str, ...]) -> StateDict:
    """The one file's state dict (see `state_dict_in`), once the options are known ones."""
    if len(checkpoints) != 1:
        raise CheckpointRejected(f"the {fmt} format reads one file, not {len(checkpoints)}")
    check_option_names(options, fmt, known_options)
    return state_dict_in(checkpoints[0], options)


def check_option_names(options: Mapping[str, Any], fmt: str, known_options: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(known_options))
    if unknown:
        raise CheckpointRejected(f"the {fmt} format has no option {', '.join(unknown)}; "
                                 f"its options: {', '.join(known_options)}")


def state_dict_in(checkpoint: Checkpoint, options: Mapping[str, Any]) -> StateDict:
    """A file's state dict: under `param_key` when given, else params_ema, params or flat, without
    the "module." a DataParallel wrapper adds."""
    content = checkpoint.content
    key = option(options, "param_key", None)
    if key is not None and not isinstance(content.get(key), Mapping):
        held = [k for k, v in content.items() if isinstance(v, Mapping)]
        raise CheckpointRejected(f"param_key={key!r}: {checkpoint.filename} holds no state dict under that key; "
                                 f"it has {', '.join(map(repr, held)) or 'none'}")
    state = tensors_of(content, (key,) if key is not None else PARAM_KEYS)
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def first_keys(state: Mapping[str, torch.Tensor]) -> str:
    return ", ".join(list(state)[:NAMED_KEYS]) or "none"


def conv_shape(state: Mapping[str, torch.Tensor], key: str, what: str) -> tuple[int, int]:
    """(out, in) channels of the 3x3 convolution `key`, refused by name when absent or mis-shaped."""
    tensor = state.get(f"{key}.weight")
    if tensor is None:
        raise CheckpointRejected(f"not a {what} checkpoint: missing tensor {key}.weight; "
                                 f"its first tensors are {first_keys(state)}")
    if tensor.dim() != 4 or tuple(tensor.shape[2:]) != (3, 3):
        raise CheckpointRejected(f"not a {what} checkpoint: {key}.weight {tuple(tensor.shape)} is not a 3x3 "
                                 f"convolution's weight [out, in, 3, 3]")
    return int(tensor.shape[0]), int(tensor.shape[1])


def conv_layout(key: str, out_channels: int, in_channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{key}.weight": (out_channels, in_channels, 3, 3), f"{key}.bias": (out_channels,)}


def count_blocks(state: Mapping[str, torch.Tensor]) -> int:
    """How many body.N blocks there are: one past the largest N of any body.N.* tensor, so a block
    missing some of its tensors is counted, and they are named missing by check_tensors."""
    numbers = [int(parts[1]) for parts in (k.split(".", 2) for k in state)
               if len(parts) == 3 and parts[0] == "body" and parts[1].isdigit()]
    return max(numbers) + 1 if numbers else 0


def loaded(module: torch.nn.Module, state: StateDict) -> torch.nn.Module:
    """`module` holding `state` (same names and shapes, checked before), in eval mode."""
    module.load_state_dict(state, strict=True)
    return module.eval()


def is_rrdbnet(state: Mapping[str, torch.Tensor]) -> bool:
    return "conv_up1.weight" in state or "body.0.rdb1.conv1.weight" in state


def rrdbnet_layout(channels: int, fold: int, features: int, growth: int, blocks: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of BasicSR's RRDBNet, by its name in the reference state dict."""
    layout = conv_layout("conv_first", features, channels * fold)
    for block in range(blocks):
        for rdb in (1, 2, 3):
            for conv in range(1, 6):
                width_in = features + (conv - 1) * growth
                layout |= conv_layout(f"body.{block}.rdb{rdb}.conv{conv}", growth if conv < 5 else features, width_in)
    for key in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        layout |= conv_layout(key, features, features)
    return layout | conv_layout("conv_last", channels, features)


def rrdbnet_names(key: str) -> str:
    """A reference RRDBNet tensor's name in models/rrdb.py's RRDBNet."""
    parts = key.split(".")
    if parts[0] == "body":  # body.N.rdbK.convJ.p -> body.N.rdbs.(K-1).convs.(J-1).p, conv5 -> conv_last
        block, rdb, conv, param = parts[1], int(parts[2][3:]) - 1, int(parts[3][4:]), parts[4]
        inner = f"convs.{conv - 1}" if conv < 5 else "conv_last"
        return f"body.{block}.rdbs.{rdb}.{inner}.{param}"
    if parts[0] in ("conv_up1", "conv_up2", "conv_hr", "conv_last"):
        return f"upsample.{key}"
    return key


def rrdbnet_conversion(state: StateDict, *, what: str, trained_gt_size: int) -> Conversion:
    """BasicSR's RRDBNet (as BasicSR and Real-ESRGAN save it) as models/rrdb.py's RRDBNet."""
    features, folded_in = conv_shape(state, "conv_first", what)
    channels, _ = conv_shape(state, "conv_last", what)
    growth, _ = conv_shape(state, "body.0.rdb1.conv1", what)
    fold = folded_in // channels if channels and folded_in % channels == 0 else 0
    if fold not in RRDB_SCALE_BY_FOLD:
        raise CheckpointRejected(
            f"not a {what} checkpoint: conv_first.weight reads {folded_in} channels for a {channels}-channel "
            f"output (conv_last.weight); it must read {channels} (x4), {channels * 4} (x2, pixel-unshuffled input) "
            f"or {channels * 16} (x1)")
    scale = RRDB_SCALE_BY_FOLD[fold]
    blocks = count_blocks(state)
    check_tensors(state, rrdbnet_layout(channels, fold, features, growth, blocks), what=what)

    config = {"channels": channels, "features": features, "blocks": blocks, "growth": growth, "scale": scale,
              "upsampler": "nearest"}
    generator = loaded(RRDBNet(**config), {rrdbnet_names(k): v for k, v in state.items()})
    unshuffle = NEAREST_UNSHUFFLE[scale]
    return Conversion(
        task="upscale", architecture="rrdbnet", config=config, options={}, networks={"generator": generator},
        signature=UpscalerSignature(scale=scale, channels=channels, image_size=max(trained_gt_size // scale, 1),
                                    size_multiple=unshuffle),
        notes=[f"RRDBNet x{scale}: num_feat={features}, num_block={blocks}, num_grow_ch={growth}, "
               f"{channels} channels read from the tensor shapes"
               + (f"; the input is pixel-unshuffled by {unshuffle}" if unshuffle > 1 else "")],
    )


# --- the ESRGAN repository's names for the same RRDBNet --------------------------------------

# Its RRDBNet_arch.py: the same modules as BasicSR's under other names.
ESRGAN_ARCH_NAMES = {"trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2", "HRconv": "conv_hr"}
# Its first release: one Sequential `model` (conv, ShortcutBlock(sub: RRDBs + trunk conv), upsampling).
ESRGAN_SEQUENTIAL_NAMES = {"model.0": "conv_first", "model.3": "conv_up1", "model.6": "conv_up2",
                           "model.8": "conv_hr", "model.10": "conv_last"}
SEQUENTIAL_RDB_CONV = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)")


def esrgan_layout(state: Mapping[str, torch.Tensor]) -> str | None:
    """"arch" or "sequential" for the ESRGAN repository's two layouts, else None."""
    if any(key.startswith("RRDB_trunk.") for key in state):
        return "arch"
    if "model.0.weight" in state and any(key.startswith("model.1.sub.") for key in state):
        return "sequential"
    return None


def basicsr_names_of_esrgan(state: StateDict, layout: str) -> StateDict:
    """The state dict under BasicSR's names; a name that has none stays as it is, to be refused by
    check_tensors as unexpected."""
    # The trunk conv follows the last RRDB in `sub`: its index is the number of blocks.
    blocks = {conv.group(1) for conv in map(SEQUENTIAL_RDB_CONV.fullmatch, state) if conv is not None}
    trunk = f"model.1.sub.{len(blocks)}"
    renamed: StateDict = {}
    for key, tensor in state.items():
        module, _, param = key.rpartition(".")
        if layout == "arch":
            if key.startswith("RRDB_trunk."):  # RRDB_trunk.N.RDBk.convJ.p -> body.N.rdbk.convJ.p
                key = "body." + key.removeprefix("RRDB_trunk.").replace(".RDB", ".rdb")
            elif module in ESRGAN_ARCH_NAMES:
                key = f"{ESRGAN_ARCH_NAMES[module]}.{param}"
        elif (conv := SEQUENTIAL_RDB_CONV.fullmatch(key)) is not None:
            block, rdb, number, param = conv.groups()
            key = f"body.{block}.rdb{rdb}.conv{number}.{param}"
        elif module == trunk:
            key = f"conv_body.{param}"
        elif module in ESRGAN_SEQUENTIAL_NAMES:
            key = f"{ESRGAN_SEQUENTIAL_NAMES[module]}.{param}"
        renamed[key] = tensor
    return renamed


# --- MSRResNet -------------------------------------------------------------------------------

def msrresnet_layout(channels: int, features: int, blocks: int, scale: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of BasicSR's MSRResNet, by its name in the reference state dict."""
    layout = conv_layout("conv_first", features, channels)
    for block in range(blocks):
        layout |= conv_layout(f"body.{block}.conv1", features, features)
        layout |= conv_layout(f"body.{block}.conv2", features, features)
    layout |= conv_layout("upconv1", features * 4, features)
    if scale == 4:
        layout |= conv_layout("upconv2", features * 4, features)
    return layout | conv_layout("conv_hr", features, features) | conv_layout("conv_last", channels, features)


def msrresnet_names(scale: int) -> dict[str, str]:
    """Reference module -> its place in models/srresnet.py's progressive `upsample` Sequential
    (conv, PixelShuffle, LeakyReLU per x2 stage, then conv_hr, LeakyReLU, conv_last)."""
    if scale == 4:
        return {"upconv1": "upsample.0", "upconv2": "upsample.3", "conv_hr": "upsample.6", "conv_last": "upsample.8"}
    return {"upconv1": "upsample.0", "conv_hr": "upsample.3", "conv_last": "upsample.5"}


def msrresnet_conversion(state: StateDict) -> Conversion:
    features, channels = conv_shape(state, "conv_first", MSRRESNET)
    up_out, _ = conv_shape(state, "upconv1", MSRRESNET)
    if up_out != features * 4:
        raise CheckpointRejected(
            f"{MSRRESNET}: upconv1.weight makes {up_out} channels from {features}; GANForge reads x2 and x4 "
            f"MSRResNets ({features * 4}), not x{math.isqrt(up_out // features) if features else '?'}")
    scale = 4 if "upconv2.weight" in state else 2
    blocks = count_blocks(state)
    check_tensors(state, msrresnet_layout(channels, features, blocks, scale), what=MSRRESNET)

    config = {"channels": channels, "features": features, "blocks": blocks, "scale": scale,
              "upsampler": "progressive", "global_residual": True}
    renames = msrresnet_names(scale)

    def ours(key: str) -> str:
        module, _, param = key.rpartition(".")
        return f"{renames[module]}.{param}" if module in renames else key

    generator = loaded(MSRResNet(**config), {ours(k): v for k, v in state.items()})
    return Conversion(
        task="upscale", architecture="msrresnet", config=config, options={}, networks={"generator": generator},
        signature=UpscalerSignature(scale=scale, channels=channels, image_size=TRAINED_GT_SIZE // scale),
        notes=[f"MSRResNet x{scale}: num_feat={features}, num_block={blocks}, {channels} channels "
               f"read from the tensor shapes"],
    )
