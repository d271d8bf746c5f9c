"""Open Inference Protocol request bodies checked against a model's tensors, without a server."""

import json

import numpy as np
import pytest

from models.inference.tensor_specs import tensor_signature
from models.store import ModelStore
from service.api.errors import Problem
from service.api.oip_tensors import (
    decode_inputs,
    encode_response,
    parse_body,
    requested_outputs,
)
from service.api.schemas.oip_v2 import InferResponse
from service.core.settings import REPO_ROOT

SPEC = tensor_signature(ModelStore(REPO_ROOT / "models" / "zoo").resolve("mnist-cdcgan"))


def body(inputs, **extra) -> bytes:
    return json.dumps({"inputs": inputs, **extra}).encode()


def decode(raw: bytes, header: str | None = None):
    request, binary = parse_body(raw, header)
    return decode_inputs(request, binary, SPEC)


def refused(raw: bytes, header: str | None = None) -> str:
    with pytest.raises(Problem) as problem:
        decode(raw, header)
    assert problem.value.status == 400 and problem.value.extra["error"] == problem.value.detail
    return problem.value.detail


Z = {"name": "z", "shape": [1, 64], "datatype": "FP32", "data": [0.5] * 64}
LABELS = {"name": "labels", "shape": [1], "datatype": "INT64", "data": [3]}


def test_json_data_flat_or_nested_and_binary_data_decode_alike():
    flat = decode(body([Z, LABELS]))
    nested = decode(body([{**Z, "data": [[0.5] * 64]}, LABELS]))
    header = body([{**Z, "data": None, "parameters": {"binary_data_size": 256}}, LABELS])
    binary = decode(header + np.full(64, 0.5, np.float32).tobytes(), str(len(header)))
    for arrays in (flat, nested, binary):
        assert arrays["z"].dtype == np.float32 and arrays["z"].shape == (1, 64) and arrays["labels"].tolist() == [3]


@pytest.mark.parametrize("inputs, message", [
    ([{**Z, "shape": [1, 63], "data": [0.0] * 63}, LABELS], "shape [1, 63] does not match [-1, 64]"),
    ([{**Z, "datatype": "FP64"}, LABELS], "datatype FP64, expected FP32"),
    ([Z], "missing input(s): labels"),
    ([Z, LABELS, {**LABELS, "name": "extra"}], "unexpected input 'extra'"),
    ([Z, {**LABELS, "data": [10]}], "0..9"),
    ([Z, {**LABELS, "data": [1.5]}], "fractions"),
    ([{**Z, "data": [0.0] * 10}, LABELS], "10 values for shape [1, 64]"),
    ([Z, {**LABELS, "shape": [2], "data": [1, 2]}], "disagree on the batch size"),
    ([{**Z, "data": None}, LABELS], "neither data nor binary_data_size"),
])
def test_what_does_not_fit_is_named(inputs, message):
    assert message in refused(body(inputs))


def test_binary_sizes_and_headers_must_add_up():
    header = body([{**Z, "data": None, "parameters": {"binary_data_size": 256}}, LABELS])
    assert "runs past" in refused(header + bytes(100), str(len(header)))
    assert "belong to no input" in refused(header + bytes(300), str(len(header)))
    assert "not a length" in refused(header, "999999")
    assert "malformed inference request" in refused(b"{not json")


def test_outputs_requested_and_answered_as_json_or_binary():
    request, _ = parse_body(body([Z, LABELS], outputs=[{"name": "images_uint8", "parameters": {"binary_data": True}}]), None)
    names, binary = requested_outputs(request, SPEC)
    assert names == ["images_uint8"] and binary == {"images_uint8"}
    request, _ = parse_body(body([Z, LABELS], parameters={"binary_data_output": True}), None)
    assert requested_outputs(request, SPEC)[1] == {"images", "images_uint8"}

    pixels = np.arange(4, dtype=np.uint8).reshape(1, 2, 2, 1)
    raw, length = encode_response(InferResponse(model_name="m", model_version="1", outputs=[]), {"p": pixels}, {"p"})
    header = json.loads(raw[:length])
    assert header["outputs"][0] == {"name": "p", "shape": [1, 2, 2, 1], "datatype": "UINT8", "parameters": {"binary_data_size": 4}}
    assert raw[length:] == pixels.tobytes()
    raw, length = encode_response(InferResponse(model_name="m", model_version="1", outputs=[]), {"p": pixels}, set())
    assert length is None and json.loads(raw)["outputs"][0]["data"] == [0, 1, 2, 3]
