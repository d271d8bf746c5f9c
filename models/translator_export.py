"""Export an image-to-image generator (pix2pix, CycleGAN) to ONNX and prove parity.

The graph takes "image" (float32 [N, C, H, W] in [-1, 1]) and returns "translated" (float32
[N, C', H, W]); N, H and W are dynamic, H and W multiples of the network's `size_multiple`
(the worker pads to it and crops back). Parity is checked at two sizes and two batch sizes, so a
graph that baked in the example's shape fails here rather than in the service.

Dropout: pix2pix keeps dropout on at test time as its only noise source. The service wants
one answer per input (its results are cached by input bytes), so the generator is exported in
eval mode: dropout off and batch norm on its running statistics. The export is deterministic.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.export import compare_with_onnx, write_onnx

INPUT, OUTPUT = "image", "translated"


def parity_shapes(size_multiple: int, image_size: int) -> tuple[tuple[int, int, int], ...]:
    """(batch, height, width): a square at the training size, then a batch of non-square images."""
    side = max(image_size - image_size % size_multiple, size_multiple)
    return (1, side, side), (3, side + size_multiple, side)


def export_translator(generator: nn.Module, path: Path, *, channels_in: int, size_multiple: int, image_size: int,
                      atol: float = 1e-4) -> float:
    """Write `generator` in eval mode to one self-contained ONNX file, then check parity.

    Returns the largest |ONNX Runtime - PyTorch| seen; raises ExportParityError past `atol`.
    """
    was_training = generator.training
    generator.eval()
    try:
        side = max(image_size - image_size % size_multiple, 2 * size_multiple)
        # Batch 2, at least two strides a side and not square, so no axis is specialised to 1
        # or tied to another.
        sample = torch.zeros(2, channels_in, side, side + size_multiple)
        batch = torch.export.Dim("batch", min=1, max=1024)
        # Sides as multiples of the network's stride: the U-Net's skip connections need it, and
        # saying so lets the exporter prove the concatenations line up for every size.
        rows = torch.export.Dim("rows", min=1, max=16384 // size_multiple)
        cols = torch.export.Dim("cols", min=1, max=16384 // size_multiple)
        dims = {0: batch, 2: size_multiple * rows, 3: size_multiple * cols}
        write_onnx(generator, {INPUT: sample}, [OUTPUT], {INPUT: dims}, path)
    finally:
        generator.train(was_training)
    return check_translator_parity(generator, path, channels_in=channels_in, size_multiple=size_multiple,
                                   image_size=image_size, atol=atol)


def check_translator_parity(module: nn.Module, path: Path, *, channels_in: int, size_multiple: int, image_size: int,
                            atol: float = 1e-4) -> float:
    """Compare the ONNX file with `module` in eval mode on seeded random images of two sizes."""
    cases = [
        {INPUT: np.random.default_rng(seed).uniform(-1, 1, (batch, channels_in, height, width)).astype(np.float32)}
        for seed, (batch, height, width) in enumerate(parity_shapes(size_multiple, image_size))
    ]
    return compare_with_onnx(module, path, OUTPUT, cases, atol)


def register_translator(result, store, name: str, provenance, *, domains: dict[str, str] | None = None,
                        metrics: dict | None = None, aliases: tuple[str, ...] = ("latest",)):
    """Export every direction of a training result (training.trainers.pix2pix.TranslationResult)
    and register them as the next version of `name` in `store`: a2b as model.onnx, b2a (when
    there is one) as b2a.onnx beside it. Nothing is registered if a parity check fails."""
    import tempfile

    signature = result.signature(domains)
    with tempfile.TemporaryDirectory() as scratch:
        paths, worst = {}, 0.0
        for direction, generator in result.generators.items():
            spec = signature.directions[direction]
            paths[direction] = Path(scratch) / spec.onnx_file
            worst = max(worst, export_translator(generator, paths[direction], channels_in=spec.channels_in,
                                                 size_multiple=result.size_multiple, image_size=result.image_size))
        return store.register(
            name, paths["a2b"], task="translate", architecture=result.architecture,
            config={"family": result.family, "directions": result.architecture_configs},
            signature=signature, provenance=provenance, parity_max_abs_diff=worst, metrics=metrics,
            extra_files=tuple(p for d, p in paths.items() if d != "a2b"), aliases=aliases,
        )
