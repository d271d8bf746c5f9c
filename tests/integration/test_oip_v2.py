"""Open Inference Protocol v2 against the real stack, with NVIDIA's `tritonclient` as the client:
a peer implementation of the protocol that nobody here wrote."""

import uuid

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from models.inference.latents import sample_latents
from models.inference.sessions import open_session
from models.store import ModelStore
from service.core.settings import REPO_ROOT

pytestmark = pytest.mark.integration

ZOO = ModelStore(REPO_ROOT / "models" / "zoo")


@pytest.fixture(scope="module")
def client(stack):
    client = triton.InferenceServerClient(url=stack.api_url.removeprefix("http://"), network_timeout=60)
    client.headers = dict(stack.auth_headers)  # sent with every call: the stack's key
    yield client
    client.close()


def auth(client) -> dict:
    """A fresh dict each call: tritonclient writes its own headers into the one it is given."""
    return dict(client.headers)


def onnx_reference(model: str, feeds: dict[str, np.ndarray], file: str = "model.onnx") -> np.ndarray:
    manifest = ZOO.resolve(model)
    session = open_session(ZOO.onnx_path(manifest).with_name(file))
    return session.run(None, feeds)[0]


def generator_inputs(binary: bool, n: int = 3) -> tuple[list, np.ndarray, np.ndarray]:
    z = sample_latents(11, n, 64, None)
    labels = np.arange(n, dtype=np.int64) % 10
    z_input = triton.InferInput("z", list(z.shape), "FP32")
    z_input.set_data_from_numpy(z, binary_data=binary)
    labels_input = triton.InferInput("labels", list(labels.shape), "INT64")
    labels_input.set_data_from_numpy(labels, binary_data=binary)
    return [z_input, labels_input], z, labels


def test_server_is_live_and_ready_and_describes_itself(client):
    assert client.is_server_live(headers=auth(client))
    assert client.is_server_ready(headers=auth(client))
    assert "binary_tensor_data" in client.get_server_metadata(headers=auth(client))["extensions"]


def test_generator_metadata_shows_latent_and_label_tensors(client):
    metadata = client.get_model_metadata("mnist-cdcgan", headers=auth(client))
    assert metadata["name"] == "mnist-cdcgan" and "1" in metadata["versions"]
    assert {"name": "z", "datatype": "FP32", "shape": [-1, 64]} in metadata["inputs"]
    assert {"name": "labels", "datatype": "INT64", "shape": [-1]} in metadata["inputs"]
    assert {"name": "images", "datatype": "FP32", "shape": [-1, 1, 28, 28]} in metadata["outputs"]
    assert {"name": "images_uint8", "datatype": "UINT8", "shape": [-1, 28, 28, 1]} in metadata["outputs"]
    assert client.get_model_metadata("mnist-cdcgan", "1", headers=auth(client))["inputs"] == metadata["inputs"]


def test_image_model_metadata_and_readiness(client):
    upscaler = client.get_model_metadata("sr-x4", headers=auth(client))
    assert upscaler["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, -1, -1]}]
    translator = client.get_model_metadata("thin2bold-cyclegan", headers=auth(client))
    assert translator["parameters"]["directions"] == ["a2b", "b2a"]
    assert client.is_model_ready("sr-x4", headers=auth(client))
    assert client.is_model_ready("mnist-cdcgan", "1", headers=auth(client))
    assert not client.is_model_ready("no-such-model", headers=auth(client))
    with pytest.raises(InferenceServerException) as missing:
        client.get_model_metadata("no-such-model", headers=auth(client))
    assert missing.value.status() == "404" and "no-such-model" in missing.value.message()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_generator_infer_matches_onnx_runtime(client, binary):
    inputs, z, labels = generator_inputs(binary)
    outputs = [triton.InferRequestedOutput("images", binary_data=binary),
               triton.InferRequestedOutput("images_uint8", binary_data=binary)]
    result = client.infer("mnist-cdcgan", inputs, outputs=outputs, request_id="r1", headers=auth(client))
    expected = onnx_reference("mnist-cdcgan", {"z": z, "labels": labels})
    images = result.as_numpy("images")
    assert images.dtype == np.float32 and images.shape == (3, 1, 28, 28)
    np.testing.assert_allclose(images, expected, atol=1e-4)
    pixels = result.as_numpy("images_uint8")
    assert pixels.dtype == np.uint8 and pixels.shape == (3, 28, 28, 1)
    np.testing.assert_array_equal(pixels[..., 0], np.clip(np.rint((expected[:, 0] + 1) * 127.5), 0, 255).astype(np.uint8))
    response = result.get_response()
    assert response["model_name"] == "mnist-cdcgan" and response["model_version"] == "1" and response["id"] == "r1"
    assert response["parameters"]["job_id"]


def test_infer_on_a_named_version_with_every_output_by_default(client):
    inputs, z, labels = generator_inputs(True, n=1)
    result = client.infer("mnist-cdcgan", inputs, model_version="1", headers=auth(client))
    assert result.as_numpy("images").shape == (1, 1, 28, 28)
    assert result.as_numpy("images_uint8").shape == (1, 28, 28, 1)


def test_upscaler_and_translator_directions(client):
    image = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
    tensor = triton.InferInput("image", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image)
    result = client.infer("sr-x4", [tensor], outputs=[triton.InferRequestedOutput("upscaled")], headers=auth(client))
    upscaled = result.as_numpy("upscaled")
    assert upscaled.shape == (1, 3, 64, 96)
    np.testing.assert_allclose(upscaled, onnx_reference("sr-x4", {"image": image}), atol=1e-4)

    gray = np.random.default_rng(1).random((2, 1, 32, 32), dtype=np.float32) * 2 - 1
    tensor = triton.InferInput("image", list(gray.shape), "FP32")
    tensor.set_data_from_numpy(gray)
    result = client.infer("thin2bold-cyclegan", [tensor], outputs=[triton.InferRequestedOutput("translated")],
                          parameters={"direction": "b2a"}, headers=auth(client))
    np.testing.assert_allclose(result.as_numpy("translated"),
                               onnx_reference("thin2bold-cyclegan", {"image": gray}, "b2a.onnx"), atol=1e-4)


def _refused(client, model: str, inputs: list) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as refused:
        client.infer(model, inputs, headers=auth(client))
    assert refused.value.status() == "400"
    return refused.value


def test_wrong_shape_dtype_and_values_are_400s_that_say_why(client):
    inputs, _, _ = generator_inputs(True, n=2)
    short = triton.InferInput("z", [2, 63], "FP32")
    short.set_data_from_numpy(np.zeros((2, 63), np.float32))
    assert "shape [2, 63]" in _refused(client, "mnist-cdcgan", [short, inputs[1]]).message()

    wide = triton.InferInput("z", [2, 64], "FP64")
    wide.set_data_from_numpy(np.zeros((2, 64), np.float64))
    assert "datatype FP64, expected FP32" in _refused(client, "mnist-cdcgan", [wide, inputs[1]]).message()

    assert "missing input(s): labels" in _refused(client, "mnist-cdcgan", inputs[:1]).message()

    labels = triton.InferInput("labels", [2], "INT64")
    labels.set_data_from_numpy(np.array([1, 10], np.int64))
    assert "0..9" in _refused(client, "mnist-cdcgan", [inputs[0], labels]).message()

    odd = triton.InferInput("image", [1, 1, 30, 32], "FP32")
    odd.set_data_from_numpy(np.zeros((1, 1, 30, 32), np.float32))
    assert "multiples of 4" in _refused(client, "thin2bold-cyclegan", [odd]).message()


def test_a_raw_request_with_a_lying_binary_size_is_a_problem_with_an_error_member(api):  # api: with a key
    header = b'{"inputs":[{"name":"z","shape":[1,64],"datatype":"FP32","parameters":{"binary_data_size":100}}]}'
    response = api.post("/v2/models/mnist-cdcgan/infer", content=header + bytes(100),
                        headers={"Inference-Header-Content-Length": str(len(header))})
    assert response.status_code == 400
    body = response.json()
    assert "100 bytes of binary data" in body["error"] and body["status"] == 400


@pytest.mark.parametrize("who", ["no key", "wrong key", "no infer scope"])
def test_refusals_carry_the_protocol_error_member_that_tritonclient_decodes(stack, api, who):
    """Issue 27, item 6: a 401/403 on /v2 had no `error`, and tritonclient failed decoding it."""
    headers = {}
    if who == "wrong key":
        headers = {"Authorization": "Bearer gfk_not-a-key"}
    elif who == "no infer scope":
        created = api.post("/keys", json={"name": f"oip-train-only-{uuid.uuid4().hex[:8]}", "scopes": ["train"]})
        key = created.json()["key"] if created.status_code == 201 else None
        assert key, created.text
        headers = {"Authorization": f"Bearer {key}"}
    client = triton.InferenceServerClient(url=stack.api_url.removeprefix("http://"), network_timeout=60)
    try:
        with pytest.raises(InferenceServerException) as refused:
            client.get_model_metadata("mnist-cdcgan", headers=dict(headers))
        expected = "403" if who == "no infer scope" else "401"
        assert refused.value.status() == expected
        assert ("scope" if expected == "403" else "key") in refused.value.message()
        inputs, _, _ = generator_inputs(binary=True, n=1)
        with pytest.raises(InferenceServerException) as refused:
            client.infer("mnist-cdcgan", inputs, headers=dict(headers))
        assert refused.value.status() == expected
    finally:
        client.close()


def test_every_v2_error_status_has_an_error_member(stack, api):
    for response, status in (
        (api.get("/v2/models/no-such-model"), 404),
        (api.post("/v2/models/mnist-cdcgan/infer", content=b"{not json", headers={"content-type": "application/json"}),
         400),
        (api.delete("/v2/health/live"), 405),
        (api.get("/v2/no/such/route"), 404),
    ):
        assert response.status_code == status, response.text
        body = response.json()
        assert body["error"] and body["error"] == body["detail"]


def test_health_probes_are_documented_as_the_empty_answers_they_are(stack, api):
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/v2/health/live", "/v2/health/ready"):
        assert paths[path]["get"]["responses"]["200"].get("content", {}) == {}
        answer = httpx.get(stack.api_url + path)
        assert answer.status_code == 200 and answer.content == b""


def test_a_rate_limited_infer_is_a_429_that_tritonclient_decodes(stack, api):
    created = api.post("/keys", json={"name": f"oip-slow-{uuid.uuid4().hex[:8]}", "scopes": ["infer"],
                                      "rate": "1/minute"})
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['key']}"}
    client = triton.InferenceServerClient(url=stack.api_url.removeprefix("http://"), network_timeout=60)
    try:
        client.get_model_metadata("mnist-cdcgan", headers=dict(headers))  # the one request of the minute
        with pytest.raises(InferenceServerException) as limited:
            client.get_model_metadata("mnist-cdcgan", headers=dict(headers))
        assert limited.value.status() == "429" and "limited" in limited.value.message()
    finally:
        client.close()
