"""The `realesrgan` format: Real-ESRGAN's released networks.

Real-ESRGAN saves {"params_ema": state_dict} (RealESRGAN_x4plus, _x2plus, _x4plus_anime_6B) or
{"params": state_dict} (realesr-general-x4v3, realesr-animevideov3); a flat state dict is read too.
Two architectures, told apart by their tensor names:

- RRDBNet, BasicSR's (conv_first, body.N.rdb1..3.conv1..5, conv_body, conv_up1, conv_up2, conv_hr,
  conv_last): read by the basicsr format's RRDBNet conversion, which Real-ESRGAN's own code reuses.
  23 blocks for x4plus and x2plus, 6 for the anime variant; x2 reads a pixel-unshuffled input.
- SRVGGNetCompact (body.0 conv, body.{odd} PReLU slopes, ..., a last conv to 3*scale**2 channels):
  models/srvgg.py, whose `body` has the same indices. num_feat, num_conv and the scale come from the
  shapes; the activation is a PReLU when the slopes are there, else option `act_type` (relu or
  leakyrelu, which have no weights to tell them apart).

Two files are realesr-general-x4v3 and its weak-denoise twin realesr-general-wdn-x4v3, blended as
Real-ESRGAN's inference blends them (network interpolation, "dni"): every tensor
denoise_strength * x4v3 + (1 - denoise_strength) * wdn, 0.5 unless the option says. The file whose
name has "wdn" is the twin; failing that, the second file sent.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from models.checkpoints.base import (
    Checkpoint,
    CheckpointRejected,
    Conversion,
    StateDict,
    check_tensors,
    option,
)
from models.checkpoints.basicsr import (
    check_option_names,
    conv_layout,
    conv_shape,
    first_keys,
    is_rrdbnet,
    loaded,
    rrdbnet_conversion,
    state_dict_in,
    state_dict_of,
)
from models.manifest import UpscalerSignature
from models.srvgg import ACTIVATIONS, SRVGGNetCompact

OPTIONS = ("param_key", "act_type", "denoise_strength")
DEFAULT_DENOISE_STRENGTH = 0.5  # inference_realesrgan.py's --denoise_strength
# Real-ESRGAN trains on 256-px high-resolution crops; the manifest records the low-resolution side.
TRAINED_GT_SIZE = 256

RRDBNET = "Real-ESRGAN RRDBNet"
SRVGG = "Real-ESRGAN SRVGGNetCompact"


def convert(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any]) -> Conversion:
    if len(checkpoints) == 2:
        conversion = denoise_blend_conversion(checkpoints, options)
        conversion.options = dict(options)
        return conversion
    if "denoise_strength" in options:
        raise CheckpointRejected("option denoise_strength blends realesr-general-x4v3 with realesr-general-wdn-x4v3: "
                                 "send both files")
    state = state_dict_of(checkpoints, options, "realesrgan", OPTIONS)
    if is_rrdbnet(state):
        if "act_type" in options:
            raise CheckpointRejected("option act_type applies to SRVGGNetCompact checkpoints; this is an RRDBNet")
        conversion = rrdbnet_conversion(state, what=RRDBNET, trained_gt_size=TRAINED_GT_SIZE)
    elif "body.0.weight" in state:
        conversion = srvgg_conversion(state, options)
    else:
        raise CheckpointRejected(f"not a {RRDBNET} or {SRVGG} checkpoint: expected conv_first.weight and "
                                 f"conv_up1.weight (RRDBNet) or body.0.weight (SRVGGNetCompact); its first tensors "
                                 f"are {first_keys(state)}")
    conversion.options = dict(options)
    return conversion


def srvgg_layout(channels: int, features: int, convs: int, scale: int, prelu: bool) -> dict[str, tuple[int, ...]]:
    """Every tensor of SRVGGNetCompact, by its name in the reference state dict: convs at even
    indices of `body`, activations at odd ones (only a PReLU has a tensor)."""
    layout = conv_layout("body.0", features, channels)
    for index in range(2, 2 * convs + 1, 2):
        layout |= conv_layout(f"body.{index}", features, features)
    if prelu:
        layout |= {f"body.{index}.weight": (features,) for index in range(1, 2 * convs + 2, 2)}
    return layout | conv_layout(f"body.{2 * convs + 2}", channels * scale * scale, features)


def last_conv_index(state: Mapping[str, torch.Tensor]) -> int:
    """The largest N with a 4-d body.N.weight: SRVGGNetCompact's last conv."""
    indices = [int(k.split(".")[1]) for k, v in state.items()
               if k.startswith("body.") and k.endswith(".weight") and k.split(".")[1].isdigit() and v.dim() == 4]
    return max(indices)


def srvgg_conversion(state: StateDict, options: Mapping[str, Any]) -> Conversion:
    features, channels = conv_shape(state, "body.0", SRVGG)
    slopes = state.get("body.1.weight")
    if slopes is None and "act_type" not in options:
        raise CheckpointRejected(f"{SRVGG}: there are no PReLU slopes (body.1.weight), so the activation is "
                                 f"weightless; say which with option act_type=relu or act_type=leakyrelu")
    activation = option(options, "act_type", "prelu", ACTIVATIONS)
    last = last_conv_index(state)
    if last < 2 or last % 2:
        raise CheckpointRejected(f"not a {SRVGG} checkpoint: its last convolution is body.{last}; convolutions sit "
                                 f"at even indices from body.2 on")
    convs = (last - 2) // 2
    shuffled, _ = conv_shape(state, f"body.{last}", SRVGG)
    scale = math.isqrt(shuffled // channels) if shuffled % channels == 0 else 0
    if scale < 1 or channels * scale * scale != shuffled:
        raise CheckpointRejected(f"not a {SRVGG} checkpoint: its last convolution body.{last}.weight makes "
                                 f"{shuffled} channels, not {channels} x scale**2")
    check_tensors(state, srvgg_layout(channels, features, convs, scale, activation == "prelu"), what=SRVGG)

    config = {"channels": channels, "features": features, "convs": convs, "scale": scale, "activation": activation}
    generator = loaded(SRVGGNetCompact(**config), state)  # same indices under `body`
    return Conversion(
        task="upscale", architecture="srvggnet_compact", config=config, options={},
        networks={"generator": generator},
        signature=UpscalerSignature(scale=scale, channels=channels, image_size=max(TRAINED_GT_SIZE // scale, 1)),
        notes=[f"SRVGGNetCompact x{scale}: num_feat={features}, num_conv={convs}, act_type={activation}, "
               f"{channels} channels read from the tensor shapes"],
    )


def denoise_blend_conversion(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any]) -> Conversion:
    """realesr-general-x4v3 and realesr-general-wdn-x4v3 blended into one SRVGGNetCompact."""
    check_option_names(options, "realesrgan", OPTIONS)
    twins = [c for c in checkpoints if "wdn" in c.filename.lower()]
    general, weak = (checkpoints[1 - checkpoints.index(twins[0])], twins[0]) if len(twins) == 1 else checkpoints
    strength = options.get("denoise_strength", DEFAULT_DENOISE_STRENGTH)
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
        raise CheckpointRejected(f"option denoise_strength={strength!r} must be a number from 0 to 1")
    first, second = state_dict_in(general, options), state_dict_in(weak, options)
    if "body.0.weight" not in first:
        raise CheckpointRejected(f"two files are realesr-general-x4v3 and its realesr-general-wdn-x4v3 twin (two "
                                 f"{SRVGG} checkpoints); {general.filename} is not one: its first tensors are "
                                 f"{first_keys(first)}")
    try:
        check_tensors(second, {k: tuple(v.shape) for k, v in first.items()}, what=SRVGG)
    except CheckpointRejected as mismatch:
        raise CheckpointRejected(f"{weak.filename} must have the tensors of {general.filename} to blend with it: "
                                 f"{mismatch}") from None
    blended = {k: strength * v + (1 - strength) * second[k] for k, v in first.items()}
    conversion = srvgg_conversion(blended, options)
    conversion.notes.append(f"blended {strength:g} x {general.filename} + {1 - strength:g} x {weak.filename} "
                            f"(denoise_strength {strength:g})")
    return conversion
