"""The `pytorch-examples-dcgan` format: netG.pth of the PyTorch examples' DCGAN (dcgan/main.py).

Its generator is one `main` Sequential drawing 64x64 images from z [N, nz, 1, 1]:

    main.0  ConvTranspose2d(nz, ngf*8, 4, 1, 0, bias=False)  main.1  BatchNorm2d  main.2  ReLU
    main.3  ConvTranspose2d(ngf*8, ngf*4, 4, 2, 1, ...)       main.4  BatchNorm2d  ...
    main.6  ... ngf*2                                          main.9  ... ngf
    main.12 ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False)     main.13 Tanh

That is layer for layer models/dcgan.py's DCGANGenerator at image_size 64 with base_features ngf
(its trunk is `net`), which also takes GANForge's z [N, nz] and adds the 1x1 axes itself. nz,
ngf and nc are read from the shapes; the format takes no options.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from models.checkpoints.base import (
    Checkpoint,
    CheckpointRejected,
    Conversion,
    check_tensors,
    tensors_of,
)
from models.dcgan import DCGANGenerator
from models.manifest import GeneratorSignature

IMAGE_SIZE = 64
WHAT = "PyTorch examples DCGAN generator (netG.pth)"
CONVS = (0, 3, 6, 9, 12)  # indices of the transposed convolutions in `main`
NORMS = (1, 4, 7, 10)  # and of the batch norms after all but the last
WIDTH_FACTORS = (8, 4, 2, 1)  # each conv's output width in units of ngf, the last conv's being nc


def expected_layout(nz: int, ngf: int, nc: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of the reference generator, by its name in netG.state_dict()."""
    widths = [nz, *(ngf * f for f in WIDTH_FACTORS), nc]
    layout: dict[str, tuple[int, ...]] = {}
    for layer, (wide_in, wide_out) in zip(CONVS, zip(widths, widths[1:])):
        layout[f"main.{layer}.weight"] = (wide_in, wide_out, 4, 4)  # ConvTranspose2d: [in, out, kH, kW]
    for layer, width in zip(NORMS, widths[1:]):
        for part in ("weight", "bias", "running_mean", "running_var"):
            layout[f"main.{layer}.{part}"] = (width,)
        layout[f"main.{layer}.num_batches_tracked"] = ()
    return layout


def convert(checkpoints: Sequence[Checkpoint], options: Mapping[str, Any]) -> Conversion:
    if len(checkpoints) != 1:
        raise CheckpointRejected(f"{WHAT}: send one file, not {len(checkpoints)}")
    if options:
        raise CheckpointRejected(f"{WHAT}: takes no options (nz, ngf and nc come from the tensor shapes); "
                                 f"got {', '.join(sorted(options))}")
    state = _reference_names(tensors_of(checkpoints[0].content))
    nz, ngf, nc = _sizes(state)
    check_tensors(state, expected_layout(nz, ngf, nc), what=WHAT)

    generator = DCGANGenerator(latent_dim=nz, channels=nc, image_size=IMAGE_SIZE, base_features=ngf)
    # Same Sequential, same indices: only the container's name differs.
    generator.load_state_dict({"net." + key.removeprefix("main."): tensor for key, tensor in state.items()})
    generator.eval()
    return Conversion(
        task="generate",
        architecture="dcgan_generator",
        config={"latent_dim": nz, "channels": nc, "image_size": IMAGE_SIZE, "base_features": ngf},
        options={},
        networks={"generator": generator},
        signature=GeneratorSignature(latent_dim=nz, image_size=IMAGE_SIZE, channels=nc, inputs=["z"]),
        notes=[f"nz={nz}, ngf={ngf}, nc={nc} read from the tensor shapes"],
    )


def _reference_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict under the script's own names: without the "module." that a DataParallel
    wrapper adds, and with num_batches_tracked (which checkpoints from before PyTorch 0.4 lack;
    inference never reads it)."""
    if state and all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): tensor for key, tensor in state.items()}
    for layer in NORMS:
        if f"main.{layer}.running_mean" in state:
            state.setdefault(f"main.{layer}.num_batches_tracked", torch.tensor(0))
    return state


def _sizes(state: Mapping[str, torch.Tensor]) -> tuple[int, int, int]:
    """nz, ngf, nc from the first and last convolutions' shapes."""
    first, last = state.get("main.0.weight"), state.get(f"main.{CONVS[-1]}.weight")
    if first is None or last is None or first.dim() != 4 or last.dim() != 4:
        named = ", ".join(list(state)[:5]) or "none"
        raise CheckpointRejected(f"not a {WHAT} checkpoint: it needs 4-d tensors main.0.weight and "
                                 f"main.{CONVS[-1]}.weight; its first tensors are {named}")
    nz, widest = first.shape[0], first.shape[1]
    if widest % WIDTH_FACTORS[0]:
        raise CheckpointRejected(f"not a {WHAT} checkpoint: main.0.weight {tuple(first.shape)} has "
                                 f"{widest} output channels, which is not ngf*8")
    return int(nz), int(widest // WIDTH_FACTORS[0]), int(last.shape[1])
