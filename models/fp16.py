"""A float16 variant of a registered version, for GPUs: half the bytes, tensor-core speed.

Inputs and outputs stay float32 (the converter puts casts at the edges), so the service calls
both encodings the same way. A variant is accepted only if it agrees with the float32 file
within `atol` on seeded random inputs; fp16 keeps ~3 decimal digits, so the bound is looser
than the 1e-4 of an export.

    python -m models.fp16 --store models/zoo --model mnist-cdcgan:1
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxconverter_common import float16

from models.export import ExportParityError
from models.inference.sessions import input_shapes, open_session
from models.manifest import Manifest
from models.store import ModelStore

FP16_ATOL = 2e-2


def convert_to_fp16(source: Path, target: Path) -> None:
    onnx.save(float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True), str(target))


def random_feeds(session: ort.InferenceSession, batch: int, spatial: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded inputs for every input of `session`: noise for floats, small non-negative ints for labels."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (shape, dtype) in input_shapes(session, batch, spatial).items():
        if dtype == np.int64:
            feeds[name] = rng.integers(0, 2, shape, dtype=np.int64)
        else:
            feeds[name] = rng.uniform(-1, 1, shape).astype(np.float32)
    return feeds


def fp16_max_abs_diff(fp32_file: Path, fp16_file: Path, spatial: int) -> float:
    full, half = open_session(fp32_file), open_session(fp16_file)
    worst = 0.0
    for seed, batch in enumerate((1, 3)):
        feeds = random_feeds(full, batch, spatial, seed)
        worst = max(worst, float(np.abs(full.run(None, feeds)[0] - half.run(None, feeds)[0]).max()))
    return worst


def add_fp16_variant(store: ModelStore, ref: str, atol: float = FP16_ATOL) -> Manifest:
    manifest = store.resolve(ref)
    source = store.onnx_path(manifest)
    spatial = max(16, 4 * getattr(manifest.signature, "size_multiple", 1))  # image sides, for translators and upscalers
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "model.fp16.onnx"
        convert_to_fp16(source, target)
        diff = fp16_max_abs_diff(source, target, spatial)
        if diff > atol:
            raise ExportParityError(diff, atol, target)
        store.attach_variant(manifest.name, manifest.version, "fp16", target)
    return store.update_metrics(manifest.name, manifest.version, {"fp16_max_abs_diff": round(diff, 6)})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m models.fp16", description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--model", required=True, help="name or name:version")
    args = parser.parse_args()
    manifest = add_fp16_variant(ModelStore(args.store), args.model)
    print(f"{manifest.ref}: fp16 variant {manifest.variants['fp16']}, max |diff| {manifest.metrics['fp16_max_abs_diff']}")


if __name__ == "__main__":
    main()
