"""Export a generator to ONNX and prove the file computes what the PyTorch module computes.

The exported graph takes "z" (float32 [N, latent_dim]) and, for a conditional generator,
"labels" (int64 [N]), and returns "images" (float32 [N, C, H, W]); N is a dynamic axis.
"""

import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.inference.codes import code_matrix
from models.inference.sessions import open_session
from models.manifest import GeneratorSignature

PARITY_BATCH_SIZES = (1, 5)


class ExportParityError(RuntimeError):
    """ONNX Runtime's output differs from PyTorch's by more than the tolerance."""

    def __init__(self, max_abs_diff: float, atol: float, path: Path):
        super().__init__(
            f"{path}: ONNX Runtime and PyTorch differ by up to {max_abs_diff:.3g} (tolerance {atol:.3g})"
        )
        self.max_abs_diff = max_abs_diff
        self.atol = atol


def example_inputs(signature: GeneratorSignature, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random inputs by ONNX input name."""
    rng = np.random.default_rng(seed)
    inputs = {"z": rng.standard_normal((batch, signature.latent_dim), dtype=np.float32)}
    if signature.num_classes:
        inputs["labels"] = rng.integers(0, signature.num_classes, size=batch, dtype=np.int64)
    if signature.codes:
        inputs["codes"] = code_matrix(signature.codes, batch, seed)
    return inputs


def export_generator(generator: nn.Module, signature: GeneratorSignature, path: Path, atol: float = 1e-4) -> float:
    """Write `generator` (eval mode) to one self-contained ONNX file at `path`, then check parity.

    Returns the largest |ONNX Runtime - PyTorch| over the parity batches; raises
    ExportParityError when it exceeds `atol`.
    """
    was_training = generator.training
    generator.eval()
    try:
        sample = {k: torch.from_numpy(v) for k, v in example_inputs(signature, 2).items()}
        batch = torch.export.Dim("batch")
        write_onnx(generator, sample, [signature.output], {n: {0: batch} for n in sample}, path)
    finally:
        generator.train(was_training)
    return check_parity(generator, signature, path, atol)


class _NoTorchvisionNotice(logging.Filter):
    """Drops the exporter's "torchvision is not installed. Skipping torchvision::…" lines. The
    dynamo exporter looks up its torchvision operators (roi_align, nms, …) on every export and logs
    one line per operator when torchvision is absent, four per export; our networks use none of
    them and torchvision is not installable here, so the lines tell a user nothing to act on.
    Only that message is dropped; the exporter's other warnings still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("torchvision is not installed")


logging.getLogger("torch.onnx._internal.exporter._registration").addFilter(_NoTorchvisionNotice())


# torch.onnx's dynamo exporter patches torch globally while it traces: two exports at once in
# one process (two trainings ending together in a threaded worker) break each other.
_EXPORT_LOCK = threading.Lock()


def write_onnx(module: nn.Module, inputs: dict[str, torch.Tensor], output_names: list[str],
               dynamic_shapes: dict[str, dict], path: Path) -> None:
    """Export `module` called on `inputs` (by ONNX input name, in call order) to one
    self-contained ONNX file: the dynamo exporter with the weights embedded
    (external_data=False), so a version is one file the registry can hash, copy and rename as a
    unit; our networks are far below protobuf's 2 GB limit for embedded weights."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(inputs)
    with _EXPORT_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's chatter about its own internals
        program = torch.onnx.export(
            module, tuple(inputs[n] for n in names), input_names=names, output_names=output_names,
            dynamic_shapes=dynamic_shapes, dynamo=True, verbose=False, external_data=False,
        )
        program.save(str(path), external_data=False)


def check_parity(
    module: nn.Module,
    signature: GeneratorSignature,
    path: Path,
    atol: float = 1e-4,
    batch_sizes: tuple[int, ...] = PARITY_BATCH_SIZES,
) -> float:
    """Compare the ONNX file at `path` against `module` in eval mode on seeded random inputs."""
    cases = [example_inputs(signature, batch, seed=seed) for seed, batch in enumerate(batch_sizes)]
    return compare_with_onnx(module, path, signature.output, cases, atol)


def compare_with_onnx(module: nn.Module, path: Path, output: str, cases: list[dict[str, np.ndarray]],
                      atol: float, expected_shape: Callable[[dict[str, np.ndarray]], tuple] | None = None) -> float:
    """Run each case (inputs by ONNX name, in the module's argument order) through ONNX Runtime and
    through `module` in eval mode; answers the largest |difference|, or raises ExportParityError
    past `atol` or when a shape differs (from each other or from `expected_shape(case)`)."""
    session = open_session(path)
    was_training = module.training
    module.eval()
    worst = 0.0
    try:
        for case in cases:
            (onnx_out,) = session.run([output], case)
            with torch.no_grad():
                torch_out = module(*(torch.from_numpy(v) for v in case.values())).numpy()
            expected = expected_shape(case) if expected_shape else torch_out.shape
            if onnx_out.shape != torch_out.shape or onnx_out.shape != expected:
                raise ExportParityError(float("inf"), atol, path)
            worst = max(worst, float(np.abs(onnx_out - torch_out).max()))
    finally:
        module.train(was_training)
    if worst > atol:
        raise ExportParityError(worst, atol, path)
    return worst
