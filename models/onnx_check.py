"""Is an uploaded ONNX file the network its manifest says it is? Checked before it is served.

In order: it parses as ONNX with every weight inside the file (an external data file would be
read from wherever its path points); the ONNX checker accepts it; its inputs and outputs have
the names, element types and shapes the signature promises (the batch axis, and an image
network's sides, dynamic); and ONNX Runtime loads it and runs an example batch whose output has
the promised shape and finite values. Every mismatch found is named, so one answer says all.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from models.inference.sessions import open_session
from models.manifest import (
    GeneratorSignature,
    Signature,
    TranslatorSignature,
    UpscalerSignature,
)

FLOAT, INT64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
_TYPE_NAMES = {FLOAT: "float32", INT64: "int64"}
DYNAMIC = -1  # any size; the checked graph must leave this axis symbolic


class ModelRejected(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Expected:
    name: str
    elem_type: int
    shape: tuple[int | None, ...]  # a size, DYNAMIC (must be symbolic), or None (either)


def expected_tensors(signature: Signature) -> tuple[list[Expected], Expected]:
    """The graph inputs and the output a signature promises."""
    if isinstance(signature, GeneratorSignature):
        inputs = [Expected("z", FLOAT, (DYNAMIC, signature.latent_dim))]
        if "labels" in signature.inputs:
            inputs.append(Expected("labels", INT64, (DYNAMIC,)))
        side = signature.image_size
        return inputs, Expected(signature.output, FLOAT, (DYNAMIC, signature.channels, side, side))
    if isinstance(signature, TranslatorSignature):
        direction = signature.directions["a2b"]
        return ([Expected(signature.input, FLOAT, (DYNAMIC, direction.channels_in, DYNAMIC, DYNAMIC))],
                Expected(signature.output, FLOAT, (DYNAMIC, direction.channels_out, DYNAMIC, DYNAMIC)))
    assert isinstance(signature, UpscalerSignature)
    return ([Expected(signature.input, FLOAT, (DYNAMIC, signature.channels, DYNAMIC, DYNAMIC))],
            Expected(signature.output, FLOAT, (DYNAMIC, signature.channels, DYNAMIC, DYNAMIC)))


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str | None]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def _compare(kind: str, actual: onnx.ValueInfoProto, expected: Expected) -> list[str]:
    problems = []
    elem_type = actual.type.tensor_type.elem_type
    if elem_type != expected.elem_type:
        got = _TYPE_NAMES.get(elem_type, onnx.TensorProto.DataType.Name(elem_type).lower())
        problems.append(f"{kind} {expected.name!r} is {got}, the signature says {_TYPE_NAMES[expected.elem_type]}")
    dims = _dims(actual)
    if len(dims) != len(expected.shape):
        problems.append(f"{kind} {expected.name!r} has {len(dims)} dimensions {dims}, the signature says "
                        f"{len(expected.shape)}")
        return problems
    for axis, (got, want) in enumerate(zip(dims, expected.shape)):
        if want == DYNAMIC and isinstance(got, int):
            what = "the batch axis" if axis == 0 else f"axis {axis}"
            problems.append(f"{kind} {expected.name!r}: {what} is fixed at {got}; export it as dynamic")
        elif isinstance(want, int) and want >= 0 and isinstance(got, int) and got != want:
            problems.append(f"{kind} {expected.name!r}: axis {axis} is {got}, the signature says {want}")
    return problems


def _external_tensors(model: onnx.ModelProto) -> list[str]:
    names = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t") and attribute.t.data_location == onnx.TensorProto.EXTERNAL:
                names.append(attribute.t.name or node.name)
    return names


def example_feeds(signature: Signature) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """A small batch the network must take, and the output shape it must give."""
    rng = np.random.default_rng(0)
    if isinstance(signature, GeneratorSignature):
        feeds = {"z": rng.standard_normal((2, signature.latent_dim), dtype=np.float32)}
        if "labels" in signature.inputs:
            feeds["labels"] = np.arange(2, dtype=np.int64) % max(signature.num_classes, 1)
        side = signature.image_size
        return feeds, (2, signature.channels, side, side)
    multiple = signature.size_multiple
    side = multiple * -(-max(signature.image_size, 16) // multiple)
    if isinstance(signature, TranslatorSignature):
        direction = signature.directions["a2b"]
        image = rng.uniform(-1, 1, (1, direction.channels_in, side, side)).astype(np.float32)
        return {signature.input: image}, (1, direction.channels_out, side, side)
    image = rng.uniform(0, 1, (1, signature.channels, side, side)).astype(np.float32)
    return {signature.input: image}, (1, signature.channels, side * signature.scale, side * signature.scale)


def check_uploaded_onnx(path: Path, signature: Signature) -> dict:
    """Raise ModelRejected naming every mismatch; answer a few facts about the file otherwise."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends
        raise ModelRejected([f"the file is not an ONNX model: {error}"]) from None
    external = _external_tensors(model)
    if external:
        raise ModelRejected([f"weights stored in external data files ({', '.join(external[:5])}): save the model "
                             "with its weights inside the .onnx file"])
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as error:
        raise ModelRejected([f"the ONNX checker refuses it: {str(error).splitlines()[0]}"]) from None

    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = {i.name: i for i in model.graph.input if i.name not in initializers}
    graph_outputs = {o.name: o for o in model.graph.output}
    inputs, output = expected_tensors(signature)
    problems = []
    for expected in inputs:
        if expected.name not in graph_inputs:
            problems.append(f"input {expected.name!r} is missing; the graph's inputs are {sorted(graph_inputs)}")
        else:
            problems += _compare("input", graph_inputs[expected.name], expected)
    extra = sorted(set(graph_inputs) - {e.name for e in inputs})
    if extra:
        problems.append(f"inputs {extra} are not in the signature")
    if output.name not in graph_outputs:
        problems.append(f"output {output.name!r} is missing; the graph's outputs are {sorted(graph_outputs)}")
    else:
        problems += _compare("output", graph_outputs[output.name], output)
    if problems:
        raise ModelRejected(problems)

    feeds, want = example_feeds(signature)
    try:
        result = open_session(path, threads=1).run([output.name], feeds)[0]
    except Exception as error:  # ONNX Runtime's own exception types
        raise ModelRejected([f"ONNX Runtime could not run it on an example batch: {str(error)[:500]}"]) from None
    if tuple(result.shape) != want:
        raise ModelRejected([f"on an example batch the output {output.name!r} has shape {list(result.shape)}, "
                             f"the signature says {list(want)}"])
    if not np.isfinite(result).all():
        raise ModelRejected([f"on an example batch the output {output.name!r} holds NaN or infinity"])
    return {"opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0),
            "example_output_range": [float(result.min()), float(result.max())]}
