"""Tensor blobs (how infer inputs and outputs travel through Redis) and a version's tensors."""

import numpy as np
import pytest

from models.inference.tensor_specs import (
    UnknownDirection,
    as_uint8_images,
    tensor_signature,
)
from models.inference.tensors import TensorBlobError, pack_tensors, unpack_tensors
from models.store import ModelStore
from service.core.settings import REPO_ROOT

ZOO = ModelStore(REPO_ROOT / "models" / "zoo")


def test_blobs_round_trip_every_dtype_and_shape():
    tensors = {"z": np.arange(6, dtype=np.float32).reshape(2, 3), "labels": np.array([3, -1], np.int64),
               "pixels": np.zeros((1, 2, 2, 1), np.uint8), "empty": np.zeros((0, 4), np.float16)}
    back = unpack_tensors(pack_tensors(tensors))
    assert list(back) == list(tensors)
    for name, array in tensors.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)


def test_a_truncated_or_foreign_blob_is_refused():
    blob = pack_tensors({"z": np.ones((4, 4), np.float32)})
    with pytest.raises(TensorBlobError):
        unpack_tensors(blob[:-1])
    with pytest.raises(TensorBlobError):
        unpack_tensors(b"\x05\x00\x00\x00nope!")
    with pytest.raises(TensorBlobError):
        pack_tensors({"s": np.array(["text"])})


def test_tensor_signatures_of_the_bundled_models():
    generator = tensor_signature(ZOO.resolve("mnist-cdcgan"))
    assert [(s.name, s.datatype, s.shape) for s in generator.inputs] == [("z", "FP32", (-1, 64)), ("labels", "INT64", (-1,))]
    assert generator.output("images_uint8").shape == (-1, 28, 28, 1) and generator.num_classes == 10
    translator = ZOO.resolve("thin2bold-cyclegan")
    assert tensor_signature(translator, "b2a").onnx_file == "b2a.onnx"
    with pytest.raises(UnknownDirection):
        tensor_signature(translator, "c2d")
    assert tensor_signature(ZOO.resolve("sr-x4")).scale == 4


def test_uint8_images_follow_the_output_range():
    output = np.array([[[[-1.0, 0.0], [1.0, 2.0]]]], np.float32)  # N=1, C=1, 2x2
    assert as_uint8_images(output, (-1.0, 1.0))[0, :, :, 0].tolist() == [[0, 128], [255, 255]]
    assert as_uint8_images(output, (0.0, 1.0))[0, :, :, 0].tolist() == [[0, 0], [255, 255]]
