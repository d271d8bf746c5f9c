"""The `stylegan2-pytorch` format: the generator of rosinality/stylegan2-pytorch, as its training
script saves it ({"g_ema": state dict, "g": ..., "d": ..., ...}) or as its TensorFlow converter
does ({"g_ema": state dict, "latent_avg": w_avg}).

Every size comes from the tensors: style_dim and n_mlp from the mapping layers `style.K`, the start
resolution and first width from `input.input`, the resolution from the number of `to_rgbs`, each
resolution's width from the first convolution there (so narrower weights than the port's table load
too), the image channels from `to_rgb1`. The weights load into models/stylegan2_port.py under the
port's own names. w_avg, the centre of truncation, is the file's `latent_avg` when it has one, else
the mean w of 10,000 seeded samples (the port's own `mean_latent` draws 4,096 unseeded).
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from models.architectures import build
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
from models.stylegan2_port import port_width

ARCHITECTURE = "stylegan2_port_generator"
WHAT = "stylegan2-pytorch generator"
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0


def convert(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any]) -> Conversion:
    if len(checkpoints) != 1:
        raise CheckpointRejected(f"stylegan2-pytorch takes one file (the checkpoint holding 'g_ema'), "
                                 f"got {len(checkpoints)}")
    checkpoint = checkpoints[0]
    which = option(options, "generator", "g_ema", ("g_ema", "g"))
    lr_mlp = positive_float(option(options, "lr_mlp", 0.01), "lr_mlp")
    state = generator_state(checkpoint, which)
    config = {**infer_config(state), "lr_mlp": lr_mlp}
    generator = build(ARCHITECTURE, **config)
    ours = generator.state_dict()
    check_tensors(state, {port_name(k): tuple(v.shape) for k, v in ours.items() if k != "w_avg"}, what=WHAT)
    generator.load_state_dict({**{our_name(k): v.float() for k, v in state.items()}, "w_avg": ours["w_avg"]})
    generator.eval()

    latent_avg = checkpoint.content.get("latent_avg")
    if latent_avg is not None:
        generator.w_avg.copy_(file_w_avg(latent_avg, config["style_dim"]))
        w_avg_from = "latent_avg"
    else:
        generator.w_avg.copy_(mean_w(generator))
        w_avg_from = f"mean of {W_AVG_SAMPLES} mapped samples (seed {W_AVG_SEED})"

    notes = [f"{which}: {config['size']} px, style_dim {config['style_dim']}, {config['n_mlp']} mapping layers, "
             f"widths {config['widths']}", f"w_avg: {w_avg_from}"]
    multiplier = channel_multiplier(config)
    if multiplier is not None:
        notes.append(f"widths follow the port's table with channel_multiplier {multiplier}")
    return Conversion(
        task="generate",
        architecture=ARCHITECTURE,
        config=config,
        options={"generator": which, "lr_mlp": lr_mlp, "w_avg": w_avg_from},
        networks={"generator": generator},
        signature=None,
        style=True,
        notes=notes,
    )


def generator_state(checkpoint: Checkpoint, which: str) -> StateDict:
    """The generator's state dict: `which` ("g_ema" or "g") inside the file, or the whole file when
    it is a bare g_ema state dict."""
    content = checkpoint.content
    if isinstance(content.get(which), Mapping):
        return tensors_of(content, prefer=(which,))
    if which == "g_ema" and "style.1.weight" in content:
        return tensors_of({k: v for k, v in content.items() if k != "latent_avg"})
    entries = ", ".join(map(str, list(content)[:NAMED_KEYS]))
    raise CheckpointRejected(f"{checkpoint.filename} has no {which!r} state dict (a stylegan2-pytorch "
                             f"checkpoint saves the generator under 'g_ema'); its entries: {entries}")


def infer_config(state: StateDict) -> dict[str, Any]:
    """size, style_dim, n_mlp, widths, channels and start from the shapes; check_tensors then
    holds every tensor to the module these build."""
    missing = [k for k in ("style.1.weight", "input.input", "to_rgb1.conv.weight") if k not in state]
    if missing:
        seen = ", ".join(list(state)[:NAMED_KEYS])
        raise CheckpointRejected(f"not a {WHAT} checkpoint: missing tensors: {', '.join(missing)} "
                                 f"(it holds {seen})")
    constant = shape_of(state, "input.input", 4)
    mapping = shape_of(state, "style.1.weight", 2)
    rgb = shape_of(state, "to_rgb1.conv.weight", 5)
    start = constant[2]
    if start < 1 or start & (start - 1) or constant[3] != start:
        raise CheckpointRejected(f"input.input {tuple(constant)} is not a square power-of-two constant")
    blocks = count(state, r"to_rgbs\.(\d+)\.conv\.weight")
    widths = [constant[1]]
    for block in range(blocks):
        key = f"convs.{2 * block}.conv.weight"
        widths.append(shape_of(state, key, 5)[1] if key in state else widths[-1])
    return {
        "size": start * 2**blocks,
        "style_dim": mapping[1],
        "n_mlp": count(state, r"style\.(\d+)\.weight", first=1),
        "widths": widths,
        "channels": rgb[1],
        "start": start,
    }


def shape_of(state: StateDict, key: str, ndim: int) -> torch.Size:
    shape = state[key].shape
    if len(shape) != ndim:
        raise CheckpointRejected(f"not a {WHAT} checkpoint: mis-shaped tensors: {key} {tuple(shape)} "
                                 f"(expected {ndim} dimensions)")
    return shape


def count(state: StateDict, pattern: str, first: int = 0) -> int:
    """How many consecutive indices from `first` have a key matching `pattern`."""
    present = {int(m.group(1)) for k in state if (m := re.fullmatch(pattern, k))}
    n = 0
    while first + n in present:
        n += 1
    return n


def port_name(ours: str) -> str:
    return ours.removeprefix("mapping.").removeprefix("synthesis.")


def our_name(port: str) -> str:
    return f"mapping.{port}" if port.startswith("style.") else f"synthesis.{port}"


def file_w_avg(latent_avg: Any, style_dim: int) -> torch.Tensor:
    if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != style_dim:
        shape = tuple(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
        raise CheckpointRejected(f"latent_avg {shape} is not a w of style_dim {style_dim}")
    return latent_avg.detach().float().reshape(style_dim)


@torch.no_grad()
def mean_w(generator) -> torch.Tensor:
    """The average w of W_AVG_SAMPLES seeded z, so an import is reproducible."""
    z = torch.randn(W_AVG_SAMPLES, generator.latent_dim, generator=torch.Generator().manual_seed(W_AVG_SEED))
    return generator.mapping(z).mean(dim=0)


def channel_multiplier(config: dict[str, Any]) -> int | None:
    """The port's channel_multiplier when the widths are its table's, else None (also below 64 px,
    where the table is 512 whatever the multiplier)."""
    if config["size"] < 64:
        return None
    resolutions = [config["start"] * 2**i for i in range(len(config["widths"]))]
    for multiplier in (1, 2, 4):
        if [port_width(r, multiplier) for r in resolutions] == config["widths"]:
            return multiplier
    return None


def positive_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CheckpointRejected(f"option {name}={value!r} is not a number") from None
    if not number > 0:
        raise CheckpointRejected(f"option {name}={value!r} must be positive")
    return number
