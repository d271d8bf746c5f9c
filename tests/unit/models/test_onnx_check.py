"""The checks an uploaded ONNX file passes before it is served, on files built by hand."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.manifest import GeneratorSignature, UpscalerSignature
from models.onnx_check import ModelRejected, check_uploaded_onnx

SIGNATURE = GeneratorSignature(latent_dim=4, image_size=2, channels=1, inputs=["z"])


def generator(path, *, latent=4, batch="n", nan=False):
    value = np.float32("nan") if nan else np.float32(0.1)
    weights = numpy_helper.from_array(np.full((latent, 4), value, np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, 1, 2, 2], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w"], ["flat"]), helper.make_node("Reshape", ["flat", "shape"], ["images"])],
        "g", [helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, latent])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 1, 2, 2])], [weights, shape],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def problems(path, signature=SIGNATURE) -> str:
    with pytest.raises(ModelRejected) as rejected:
        check_uploaded_onnx(path, signature)
    return str(rejected.value)


def test_a_matching_file_passes_and_says_what_it_ran(tmp_path):
    facts = check_uploaded_onnx(generator(tmp_path / "ok.onnx"), SIGNATURE)
    assert facts["opset"] == 17 and len(facts["example_output_range"]) == 2


def test_every_mismatch_is_named(tmp_path):
    assert "axis 1 is 5, the signature says 4" in problems(generator(tmp_path / "a.onnx", latent=5))
    assert "the batch axis is fixed at 3" in problems(generator(tmp_path / "b.onnx", batch=3))
    assert "NaN or infinity" in problems(generator(tmp_path / "c.onnx", nan=True))
    upscaler = UpscalerSignature(scale=2, channels=1, image_size=8)
    detail = problems(generator(tmp_path / "d.onnx"), upscaler)
    assert "input 'image' is missing" in detail and "output 'upscaled' is missing" in detail
    (tmp_path / "e.onnx").write_bytes(b"\x00garbage")
    assert "not an ONNX model" in problems(tmp_path / "e.onnx")
