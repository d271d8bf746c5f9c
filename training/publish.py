"""The end of a training run: export the generator to ONNX, prove parity, register a version."""

import tempfile
from pathlib import Path

from models.export import export_generator
from models.manifest import Manifest, Provenance
from models.store import ModelStore
from training.dcgan_trainer import TrainResult


def publish_generator(result: TrainResult, store: ModelStore, name: str, provenance: Provenance) -> Manifest:
    """Register `result`'s generator as the next version of `name`, aliased `latest`.

    The export raises ExportParityError when ONNX Runtime disagrees with PyTorch, and then
    nothing is registered.
    """
    signature = result.signature()
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = Path(scratch) / "model.onnx"
        parity = export_generator(result.generator, signature, onnx_path)
        return store.register(
            name,
            onnx_path,
            task="generate",
            architecture=result.architecture,
            config=result.architecture_config,
            signature=signature,
            provenance=provenance,
            parity_max_abs_diff=parity,
        )
