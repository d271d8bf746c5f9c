"""Export a super-resolution generator to ONNX and prove the file computes what PyTorch computes.

The graph takes "image" (float32 [N, C, H, W] in [0, 1]) and returns "upscaled" (float32
[N, C, scale*H, scale*W], clipped to [0, 1]); N, H and W are dynamic, so a worker can feed
tiles of any size. Parity is checked at several batch sizes and odd, non-square sides, which
is where a wrongly fixed axis or a pixel-shuffle reshape would show.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.export import compare_with_onnx, write_onnx
from models.manifest import UpscalerSignature

# (batch, height, width): dynamic batch and sides, odd and non-square on purpose.
PARITY_SHAPES = ((1, 24, 24), (3, 17, 29), (2, 40, 9))


class ClippedUpscaler(nn.Module):
    """The generator with its output clipped to [0, 1]: what the manifest's signature promises."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.generator(image).clamp(0.0, 1.0)


def example_image(signature: UpscalerSignature, batch: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Seeded smooth-ish test input in [0, 1] (pure noise would be an unusually hard case for parity)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((batch, signature.channels, height // 4 + 2, width // 4 + 2), dtype=np.float32)
    image = np.repeat(np.repeat(coarse, 4, axis=2), 4, axis=3)[:, :, :height, :width]
    return np.clip(image + 0.05 * rng.standard_normal(image.shape, dtype=np.float32), 0, 1).astype(np.float32)


def export_upscaler(generator: nn.Module, signature: UpscalerSignature, path: Path, atol: float = 1e-4) -> float:
    """Write `generator` (eval mode, output clipped) to one self-contained ONNX file, then check parity.

    Returns the largest |ONNX Runtime - PyTorch|; raises ExportParityError past `atol`.
    """
    module = ClippedUpscaler(generator)
    was_training = generator.training
    generator.eval()
    try:
        sample = torch.from_numpy(example_image(signature, 2, 24, 20))
        dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height", min=2), 3: torch.export.Dim("width", min=2)}
        write_onnx(module, {signature.input: sample}, [signature.output], {signature.input: dims}, path)
    finally:
        generator.train(was_training)
    return check_upscaler_parity(module, signature, path, atol)


def check_upscaler_parity(module: nn.Module, signature: UpscalerSignature, path: Path, atol: float = 1e-4,
                          shapes: tuple[tuple[int, int, int], ...] = PARITY_SHAPES) -> float:
    """Compare the ONNX file with `module` in eval mode; every output must be `scale` times its input."""
    cases = [{signature.input: example_image(signature, batch, height, width, seed)}
             for seed, (batch, height, width) in enumerate(shapes)]

    def expected_shape(case: dict[str, np.ndarray]) -> tuple:
        batch, _, height, width = case[signature.input].shape
        return (batch, signature.channels, height * signature.scale, width * signature.scale)

    return compare_with_onnx(module, path, signature.output, cases, atol, expected_shape)
