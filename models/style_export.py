"""Export a StyleGAN2 generator as two ONNX graphs and prove both compute what PyTorch computes.

mapping.onnx:  'z' float32 [N, latent_dim] (+ 'labels' int64 [N]) -> 'w' float32 [N, w_dim]
model.onnx:    'ws' float32 [N, num_ws, w_dim], 'noise_mix' float32 [N], 'noise' float32
               [N, sum of H_i * W_i] (every layer's noise map, flattened and concatenated in layer
               order) -> 'images' float32 [N, C, H, W]

The stored ("const") noise maps are weights of the synthesis graph; `noise_mix` blends them with
the given maps per sample (0: stored, 1: given), because a graph cannot draw seeded random numbers
per request. Truncation, style mixing and walks happen on w between the two graphs (the worker's
models/inference/style.py).

Any generator offering the StyleGenerator protocol exports: our own (models/stylegan2.py) and the
imported StyleGAN2 port (models/stylegan2_port.py).
"""

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from models.export import compare_with_onnx, write_onnx
from models.manifest import GeneratorSignature, StyleSpec


class StyleSynthesis(Protocol):
    """ws [N, num_ws, w_dim] and one noise map per layer (in the order the layers read ws) -> images."""

    def noise_shapes(self) -> list[tuple[int, int, int]]: ...  # [1, H, W] of each layer's map

    def const_noise(self, batch: int) -> list[torch.Tensor]: ...  # the stored maps, for `batch` images

    def __call__(self, ws: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor: ...


class StyleGenerator(Protocol):
    """What the export reads from a style-based generator; layer k reads ws[:, k] and noise map k,
    and the last w (index num_ws - 1) goes to the final RGB layer only."""

    latent_dim: int
    num_classes: int
    num_ws: int
    w_avg: torch.Tensor  # [w_dim], the centre of truncation
    mapping: nn.Module  # (z [N, latent_dim], labels [N] or None) -> w [N, w_dim]
    synthesis: StyleSynthesis


class MappingGraph(nn.Module):
    def __init__(self, generator: StyleGenerator):
        super().__init__()
        self.mapping = generator.mapping

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.mapping(z, labels)


class SynthesisGraph(nn.Module):
    def __init__(self, generator: StyleGenerator):
        super().__init__()
        self.synthesis = generator.synthesis

    def forward(self, ws: torch.Tensor, noise_mix: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        mix = noise_mix[:, None, None, None]
        stored = self.synthesis.const_noise(ws.shape[0])
        given, start = [], 0
        for _, height, width in self.synthesis.noise_shapes():
            given.append(noise[:, start:start + height * width].reshape(-1, 1, height, width))
            start += height * width
        return self.synthesis(ws, *[c + mix * (n - c) for c, n in zip(stored, given)])


def style_signature(generator: StyleGenerator, *, class_names: list[str] | None = None) -> GeneratorSignature:
    synthesis = generator.synthesis
    num_classes = generator.num_classes
    noise_shapes = synthesis.noise_shapes()
    # The image's size and channels as one forward pass makes them, so any synthesis network fits.
    with torch.no_grad():
        w_dim = generator.w_avg.shape[0]
        _, channels, image_size, _ = synthesis(generator.w_avg.new_zeros(1, generator.num_ws, w_dim),
                                               *synthesis.const_noise(1)).shape
    return GeneratorSignature(
        latent_dim=generator.latent_dim,
        num_classes=num_classes,
        class_names=class_names or [str(i) for i in range(num_classes)],
        image_size=image_size,
        channels=channels,
        inputs=["z", "labels"] if num_classes else ["z"],
        style=StyleSpec(
            w_dim=w_dim,
            num_ws=generator.num_ws,
            w_avg=[round(float(v), 7) for v in generator.w_avg],
            # each layer works at its noise map's size; the last w's RGB layer at the image's
            layer_resolutions=[height for _, height, _ in noise_shapes] + [image_size],
            noise_shapes=[list(shape) for shape in noise_shapes],
        ),
    )


def mapping_cases(signature: GeneratorSignature, batches=(1, 5)) -> list[dict[str, np.ndarray]]:
    cases = []
    for seed, batch in enumerate(batches):
        rng = np.random.default_rng(seed)
        case = {"z": rng.standard_normal((batch, signature.latent_dim), dtype=np.float32)}
        if signature.num_classes:
            case["labels"] = rng.integers(0, signature.num_classes, size=batch, dtype=np.int64)
        cases.append(case)
    return cases


def noise_length(style: StyleSpec) -> int:
    return sum(h * w for _, h, w in style.noise_shapes)


def synthesis_cases(style: StyleSpec, batches=(1, 5)) -> list[dict[str, np.ndarray]]:
    cases = []
    for seed, batch in enumerate(batches):
        rng = np.random.default_rng(seed)
        case = {
            "ws": rng.standard_normal((batch, style.num_ws, style.w_dim), dtype=np.float32),
            "noise_mix": (np.arange(batch) % 2).astype(np.float32),  # both modes in one batch
        }
        case["noise"] = rng.standard_normal((batch, noise_length(style)), dtype=np.float32)
        cases.append(case)
    return cases


def export_style_generator(generator: StyleGenerator, folder: Path, *, class_names: list[str] | None = None,
                           atol: float = 1e-4) -> tuple[GeneratorSignature, Path, Path, float]:
    """Write model.onnx (synthesis) and mapping.onnx into `folder`, check both against PyTorch.

    Answers the signature, the two paths and the largest |ONNX Runtime - PyTorch| seen; raises
    ExportParityError past `atol`."""
    folder = Path(folder)
    signature = style_signature(generator, class_names=class_names)
    style = signature.style
    was_training = generator.training
    generator.eval()
    mapping, synthesis = MappingGraph(generator), SynthesisGraph(generator)
    mapping_path, synthesis_path = folder / style.mapping_file, folder / "model.onnx"
    try:
        batch = torch.export.Dim("batch", min=1, max=4096)
        sample = {k: torch.from_numpy(v) for k, v in mapping_cases(signature, (2,))[0].items()}
        write_onnx(mapping, sample, ["w"], {name: {0: batch} for name in sample}, mapping_path)
        sample = {k: torch.from_numpy(v) for k, v in synthesis_cases(style, (2,))[0].items()}
        write_onnx(synthesis, sample, [signature.output], {name: {0: batch} for name in sample}, synthesis_path)
    finally:
        generator.train(was_training)
    worst = max(
        compare_with_onnx(mapping, mapping_path, "w", mapping_cases(signature), atol),
        compare_with_onnx(synthesis, synthesis_path, signature.output, synthesis_cases(style), atol),
    )
    return signature, synthesis_path, mapping_path, worst
