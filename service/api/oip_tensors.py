"""Open Inference Protocol v2 bodies <-> numpy arrays, checked against a model's tensors.

A request's JSON may be followed by raw tensor bytes (the binary-data extension): the
`Inference-Header-Content-Length` header says where the JSON ends, and each input sent that way
names its byte count in `parameters.binary_data_size`, in input order. Answers mirror it: an
output asked for with `binary_data: true` (or every output, with the request parameter
`binary_data_output: true`) follows the JSON as bytes.

Every mistake is a 400 whose `error` member says what is wrong, as the protocol has it (the rest
of the body is the usual problem+json).
"""

import json
import math

import numpy as np
from pydantic import ValidationError

from models.inference.tensor_specs import TensorSignature
from models.inference.tensors import DATATYPES, datatype_of
from service.api.errors import Problem
from service.api.schemas.oip_v2 import InferOutput, InferRequest, InferResponse

HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_BATCH = 64  # rows per request, as /generate's n


def oip_error(status: int, message: str, type_: str = "oip-bad-request") -> Problem:
    """A Problem whose body also carries the protocol's `error` member."""
    return Problem(status, type_, "Inference request failed", message, error=message)


def parse_body(body: bytes, header_length: str | None) -> tuple[InferRequest, bytes]:
    """The JSON part as an InferRequest, and the binary bytes after it."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise oip_error(400, f"{HEADER_LENGTH} {header_length!r} is not a length within the {len(body)}-byte body")
        split = int(header_length)
        json_part, binary = body[:split], body[split:]
    else:
        json_part, binary = body, b""
    try:
        return InferRequest.model_validate_json(json_part), binary
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())
        raise oip_error(400, f"malformed inference request: {problems}") from None


def _values(name: str, data: list, dtype: np.dtype) -> np.ndarray:
    try:
        values = np.asarray(data)
    except ValueError:
        raise oip_error(400, f"input {name!r}: data is ragged; give a flat or evenly nested list") from None
    if values.dtype == object or values.dtype.kind in "USV":
        raise oip_error(400, f"input {name!r}: data must hold numbers only")
    if dtype.kind in "iu" and values.dtype.kind == "f":
        raise oip_error(400, f"input {name!r}: data holds fractions but the datatype is an integer type")
    if dtype.kind in "iu" and values.size and (values.min() < np.iinfo(dtype).min or values.max() > np.iinfo(dtype).max):
        raise oip_error(400, f"input {name!r}: a value does not fit {dtype.name}")
    return values.astype(dtype).ravel()


def decode_inputs(request: InferRequest, binary: bytes, spec: TensorSignature) -> dict[str, np.ndarray]:
    """Each input as an array of the right shape and dtype, or a 400 naming what does not fit."""
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in request.inputs:
        expected = spec.input(tensor.name)
        if expected is None:
            known = ", ".join(s.name for s in spec.inputs)
            raise oip_error(400, f"unexpected input {tensor.name!r}; the model takes {known}")
        if tensor.name in arrays:
            raise oip_error(400, f"input {tensor.name!r} is given twice")
        if tensor.datatype != expected.datatype:
            raise oip_error(400, f"input {tensor.name!r}: datatype {tensor.datatype}, expected {expected.datatype}")
        if len(tensor.shape) != len(expected.shape) or any(
            got < 0 or (want >= 0 and got != want) for got, want in zip(tensor.shape, expected.shape)
        ):
            raise oip_error(400, f"input {tensor.name!r}: shape {tensor.shape} does not match {list(expected.shape)} "
                                 "(-1: any size)")
        dtype = DATATYPES[expected.datatype]
        count = math.prod(tensor.shape)
        binary_size = (tensor.parameters or {}).get("binary_data_size")
        if binary_size is not None:
            if not isinstance(binary_size, int) or binary_size < 0 or offset + binary_size > len(binary):
                raise oip_error(400, f"input {tensor.name!r}: binary_data_size {binary_size!r} runs past the "
                                     f"{len(binary)} bytes after the JSON header")
            if binary_size != count * dtype.itemsize:
                raise oip_error(400, f"input {tensor.name!r}: {binary_size} bytes of binary data, but shape "
                                     f"{tensor.shape} of {expected.datatype} needs {count * dtype.itemsize}")
            flat = np.frombuffer(binary, dtype=dtype, count=count, offset=offset)
            offset += binary_size
        elif tensor.data is not None:
            flat = _values(tensor.name, tensor.data, dtype)
            if flat.size != count:
                raise oip_error(400, f"input {tensor.name!r}: {flat.size} values for shape {tensor.shape} ({count})")
        else:
            raise oip_error(400, f"input {tensor.name!r} has neither data nor binary_data_size")
        arrays[tensor.name] = flat.reshape(tensor.shape)
    if offset != len(binary):
        raise oip_error(400, f"{len(binary) - offset} bytes after the JSON header belong to no input")
    missing = [s.name for s in spec.inputs if s.name not in arrays]
    if missing:
        raise oip_error(400, f"missing input(s): {', '.join(missing)}")
    _check_batch_and_values(arrays, spec)
    return arrays


def _check_batch_and_values(arrays: dict[str, np.ndarray], spec: TensorSignature) -> None:
    batches = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(batches.values())) != 1:
        raise oip_error(400, f"inputs disagree on the batch size (first dimension): {batches}")
    batch = next(iter(batches.values()))
    if not 1 <= batch <= MAX_BATCH:
        raise oip_error(400, f"batch size {batch} is outside 1..{MAX_BATCH}")
    labels = arrays.get("labels")
    if labels is not None and spec.num_classes and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise oip_error(400, f"input 'labels': every label must lie in 0..{spec.num_classes - 1}")
    for name, array in arrays.items():
        if array.ndim != 4:
            continue
        height, width = array.shape[2:]
        if min(height, width) < spec.min_side or height % spec.size_multiple or width % spec.size_multiple:
            raise oip_error(400, f"input {name!r}: sides {height}x{width} must be multiples of {spec.size_multiple} "
                                 f"and at least {spec.min_side}")


def check_pixel_budget(arrays: dict[str, np.ndarray], spec: TensorSignature, max_input_pixels: int,
                       max_output_pixels: int) -> None:
    for name, array in arrays.items():
        if array.ndim != 4:
            continue
        pixels = array.shape[0] * array.shape[2] * array.shape[3]
        if pixels > max_input_pixels or pixels * spec.scale**2 > max_output_pixels:
            raise oip_error(400, f"input {name!r}: {pixels} pixels in the batch is over the limits "
                                 f"({max_input_pixels} in, {max_output_pixels} out)")


def requested_outputs(request: InferRequest, spec: TensorSignature) -> tuple[list[str], set[str]]:
    """Output names to compute, and those to answer as binary data."""
    binary_all = bool((request.parameters or {}).get("binary_data_output", False))
    if not request.outputs:
        names = [s.name for s in spec.outputs]
        return names, set(names) if binary_all else set()
    names, binary = [], set()
    for output in request.outputs:
        if spec.output(output.name) is None:
            known = ", ".join(s.name for s in spec.outputs)
            raise oip_error(400, f"unknown output {output.name!r}; the model gives {known}")
        if output.name not in names:
            names.append(output.name)
        if (output.parameters or {}).get("binary_data", binary_all):
            binary.add(output.name)
    return names, binary


def encode_response(response: InferResponse, arrays: dict[str, np.ndarray], binary: set[str]) -> tuple[bytes, int | None]:
    """The body, and the JSON header's length when binary data follows it (else None)."""
    chunks = []
    for name, array in arrays.items():
        output = InferOutput(name=name, shape=list(array.shape), datatype=datatype_of(array))
        if name in binary:
            data = np.ascontiguousarray(array).tobytes()
            output.parameters = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            output.data = array.ravel().tolist()
        response.outputs.append(output)
    header = json.dumps(response.model_dump(exclude_none=True), separators=(",", ":")).encode()
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)
