"""Bring your own model: a PyTorch generator exported to ONNX, uploaded, checked, served; and
every way an upload can be wrong answered 422 naming the mismatch."""

import hashlib
import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from service.core.api_keys import ApiKeyStore

pytestmark = pytest.mark.integration

LATENT, SIDE = 16, 8
SIGNATURE = {"kind": "generator", "latent_dim": LATENT, "num_classes": 0, "image_size": SIDE, "channels": 1,
             "inputs": ["z"], "output": "images"}


class TinyGenerator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(LATENT, SIDE * SIDE)

    def forward(self, z):
        return torch.tanh(self.net(z)).view(-1, 1, SIDE, SIDE)


def export_torch_generator(path) -> bytes:
    """The README's path: torch.onnx.export with a dynamic batch axis and the weights inside."""
    torch.manual_seed(0)
    batch = torch.export.Dim("n", min=1, max=1024)
    torch.onnx.export(TinyGenerator().eval(), (torch.randn(2, LATENT),), str(path), input_names=["z"],
                      output_names=["images"], dynamic_shapes={"z": {0: batch}}, external_data=False)
    return path.read_bytes()


def graph_generator(latent: int = LATENT, batch: int | str = "n", input_type=TensorProto.FLOAT) -> onnx.ModelProto:
    """z -> MatMul -> Reshape -> Tanh, built by hand, for the cases torch would not export."""
    weights = numpy_helper.from_array(np.full((latent, SIDE * SIDE), 0.01, np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, 1, SIDE, SIDE], np.int64), "shape")
    nodes = [helper.make_node("Cast", ["z"], ["zf"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["zf", "w"], ["flat"]),
             helper.make_node("Reshape", ["flat", "shape"], ["square"]),
             helper.make_node("Tanh", ["square"], ["images"])]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("z", input_type, [batch, latent])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 1, SIDE, SIDE])], [weights, shape],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def uploader(stack):
    """A key that may upload, owned by 'byo' (not an admin)."""
    key, _ = ApiKeyStore(stack.redis).create("byo-uploader", ["infer", "models:write"], owner="byo",
                                          rate="unlimited")
    with stack.client(key) as client:
        yield client


def upload(client, name: str, data: bytes, signature: dict | None = None, **manifest):
    body = {"task": "generate", "signature": signature or SIGNATURE, **manifest}
    return client.post(f"/models/{name}/versions", files={"file": ("model.onnx", data)},
                       data={"manifest": json.dumps(body)})


def test_a_pytorch_generator_uploaded_is_served(uploader, tmp_path):
    data = export_torch_generator(tmp_path / "tiny.onnx")
    created = upload(uploader, "byo-tiny", data, provenance={"trainer": "mine", "dataset": "faces", "seed": 1, "steps": 9})
    assert created.status_code == 201, created.text
    manifest = created.json()
    assert created.headers["Location"] == f"/models/byo-tiny/versions/{manifest['version']}"
    assert manifest["onnx_sha256"] == hashlib.sha256(data).hexdigest() and manifest["provenance"]["trainer"] == "mine"

    generated = uploader.post("/generate", json={"model": "byo-tiny", "n": 3, "seed": 5}, headers={"Prefer": "wait=30"})
    assert generated.status_code == 200 and generated.json()["status"] == "succeeded", generated.text
    assert len(generated.json()["outputs"]) == 3

    download = uploader.get(f"/models/byo-tiny/versions/{manifest['version']}/model.onnx")
    assert download.status_code == 200 and download.content == data
    assert download.headers["etag"] == f'"{manifest["onnx_sha256"]}"'


@pytest.mark.parametrize("case, model, signature, expected", [
    ("latent size", graph_generator(latent=12), None, "input 'z': axis 1 is 12, the signature says 16"),
    ("fixed batch", graph_generator(batch=1), None, "the batch axis is fixed at 1; export it as dynamic"),
    ("dtype", graph_generator(input_type=TensorProto.DOUBLE), None, "input 'z' is double, the signature says float32"),
    ("output name", graph_generator(), {**SIGNATURE, "output": "pixels"}, "output 'pixels' is missing"),
    ("image size", graph_generator(), {**SIGNATURE, "image_size": 16}, "axis 2 is 8, the signature says 16"),
], ids=["latent-size", "fixed-batch", "dtype", "output-name", "image-size"])
def test_a_file_that_does_not_match_its_signature_is_a_422_naming_it(uploader, case, model, signature, expected):
    answer = upload(uploader, "byo-wrong", model.SerializeToString(), signature)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert expected in problem["detail"] and problem["errors"][0]["field"] == "file"
    assert uploader.get("/models/byo-wrong").status_code == 404  # nothing was published


def test_external_data_garbage_and_bad_manifests_are_refused(uploader, tmp_path):
    model = graph_generator()
    onnx.save(model, str(tmp_path / "split.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="split.onnx.data", size_threshold=0)
    answer = upload(uploader, "byo-split", (tmp_path / "split.onnx").read_bytes())
    assert answer.status_code == 422 and "external data" in answer.json()["detail"]

    answer = upload(uploader, "byo-junk", b"\x08\x07not a protobuf at all" * 10)
    assert answer.status_code == 422 and "not an ONNX model" in answer.json()["detail"]

    answer = upload(uploader, "byo-task", graph_generator().SerializeToString(),
                    {"kind": "upscaler", "scale": 2, "channels": 1, "image_size": 8})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"].startswith("manifest")

    answer = uploader.post("/models/byo-nofile/versions", data={"manifest": json.dumps({"task": "generate"})},
                           files={"other": ("x", b"1")})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "file"


def test_aliases_and_deletion(uploader, stack):
    first = upload(uploader, "byo-aliased", graph_generator().SerializeToString()).json()["version"]
    second = upload(uploader, "byo-aliased", graph_generator().SerializeToString(), aliases=[]).json()["version"]
    assert uploader.get("/models/byo-aliased").json()["aliases"] == {"latest": first}

    moved = uploader.put("/models/byo-aliased/aliases/prod", json={"version": first})
    assert moved.status_code == 200 and moved.json()["aliases"] == {"latest": first, "prod": first}
    refused = uploader.delete(f"/models/byo-aliased/versions/{first}")
    assert refused.status_code == 409 and "latest, prod" in refused.json()["detail"]

    uploader.put("/models/byo-aliased/aliases/latest", json={"version": second})
    uploader.put("/models/byo-aliased/aliases/prod", json={"version": second})
    assert uploader.delete(f"/models/byo-aliased/versions/{first}").status_code == 204
    assert uploader.get(f"/models/byo-aliased/versions/{first}/model.onnx").status_code == 404
    assert uploader.put("/models/byo-aliased/aliases/prod", json={"version": first}).status_code == 422

    # Someone else's key neither sees the model nor may publish under its name; bundled models are read-only.
    key, _ = ApiKeyStore(stack.redis).create("byo-stranger", ["infer", "models:write"], owner="stranger",
                                          rate="unlimited")
    with stack.client(key) as stranger:
        assert stranger.get(f"/models/byo-aliased/versions/{second}/model.onnx").status_code == 404
        assert upload(stranger, "byo-aliased", graph_generator().SerializeToString()).status_code == 409
        assert stranger.put("/models/mnist-cdcgan/aliases/latest", json={"version": 1}).status_code == 403
        assert stranger.get("/models/mnist-cdcgan/versions/1/model.onnx").status_code == 200
        assert stranger.get("/v2/models/byo-aliased").status_code == 404  # nor over the inference protocol
        assert stranger.get("/v2/models/mnist-cdcgan").status_code == 200
    assert uploader.get("/v2/models/byo-aliased").json()["inputs"] == [{"name": "z", "datatype": "FP32", "shape": [-1, 16]}]
