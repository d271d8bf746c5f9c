"""A Conversion made a served version: exported to ONNX with the parity check of its task, then
registered with where it came from.

The exports are the trainers' own (models/export.py, style_export.py, translator_export.py,
upscaler_export.py), so an imported version is laid out and checked exactly like a trained one:
one self-contained model.onnx, plus b2a.onnx for a CycleGAN's second direction and mapping.onnx
for a style generator's mapping network. Nothing is registered when a parity check fails.
"""

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.checkpoints.base import Conversion
from models.export import export_generator
from models.manifest import (
    GeneratorSignature,
    ImportedFrom,
    Manifest,
    Provenance,
    Signature,
    SourceFile,
    TranslatorSignature,
    UpscalerSignature,
)
from models.store import ModelStore
from models.style_export import export_style_generator
from models.translator_export import export_translator
from models.upscaler_export import export_upscaler

PARITY_ATOL = 1e-4  # fp32, as for every trained version
PROMOTE_ALWAYS = "always"


def import_provenance(format_name: str, files: list[SourceFile], options: Mapping[str, Any],
                      notes: list[str] | None = None) -> Provenance:
    """An import's provenance: no trainer, dataset, seed or steps of ours; the files instead."""
    return Provenance(trainer=f"import:{format_name}", dataset="-", seed=0, steps=0,
                      imported_from=ImportedFrom(format=format_name, files=files, options=dict(options),
                                                 notes=list(notes or [])))


def import_aliases(store: ModelStore, name: str, promote: str | None) -> tuple[str, ...]:
    """`latest` for a name's first version; later imports move it only when asked to."""
    return ("latest",) if promote == PROMOTE_ALWAYS or not store.versions(name) else ()


def publish_conversion(conversion: Conversion, store: ModelStore, name: str, provenance: Provenance,
                       aliases: tuple[str, ...]) -> Manifest:
    """Export every network of `conversion`, check parity, register the next version of `name`."""
    with tempfile.TemporaryDirectory(prefix="ganforge-import-") as scratch:
        folder = Path(scratch)
        signature, main, extras, worst = _export(conversion, folder)
        return store.register(
            name, main, task=conversion.task, architecture=conversion.architecture, config=conversion.config,
            signature=signature, provenance=provenance, parity_max_abs_diff=worst, aliases=aliases,
            extra_files=extras,
        )


def _export(conversion: Conversion, folder: Path) -> tuple[Signature, Path, tuple[Path, ...], float]:
    """(signature, model.onnx, the version's other ONNX files, worst parity) for the conversion's task."""
    networks, signature = conversion.networks, conversion.signature
    if conversion.style:
        signature, synthesis, mapping, worst = export_style_generator(networks["generator"], folder, atol=PARITY_ATOL)
        return signature, synthesis, (mapping,), worst
    if conversion.task == "generate" and isinstance(signature, GeneratorSignature):
        path = folder / "model.onnx"
        return signature, path, (), export_generator(networks["generator"], signature, path, atol=PARITY_ATOL)
    if conversion.task == "upscale" and isinstance(signature, UpscalerSignature):
        path = folder / "model.onnx"
        return signature, path, (), export_upscaler(networks["generator"], signature, path, atol=PARITY_ATOL)
    if conversion.task == "translate" and isinstance(signature, TranslatorSignature):
        paths, worst = {}, 0.0
        for direction, spec in signature.directions.items():
            paths[direction] = folder / spec.onnx_file
            worst = max(worst, export_translator(networks[direction], paths[direction], channels_in=spec.channels_in,
                                                 size_multiple=signature.size_multiple,
                                                 image_size=signature.image_size, atol=PARITY_ATOL))
        extras = tuple(path for direction, path in paths.items() if direction != "a2b")
        return signature, paths["a2b"], extras, worst
    raise ValueError(f"a {conversion.task} conversion with a {type(signature).__name__} signature cannot be exported")
