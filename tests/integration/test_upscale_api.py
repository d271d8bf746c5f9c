"""POST /upscale end to end (HTTP -> API -> Redis -> worker -> ONNX Runtime), and a tiny POST /train
srgan run that registers an upscaler the same worker then serves."""

import base64
import io

import numpy as np
import pytest
import torch
from archives import zip_bytes
from conftest import wait_for_status
from PIL import Image

from models.architectures import build
from models.manifest import Provenance, UpscalerSignature
from models.store import ModelStore
from models.upscaler_export import export_upscaler

pytestmark = pytest.mark.integration

MODEL = "test-sr-x4"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def upscaler(stack, tmp_path_factory) -> str:
    """A tiny x4 upscaler registered in the stack's model store (the worker reads it from disk)."""
    torch.manual_seed(0)
    generator = build("msrresnet", features=8, blocks=1, scale=4, upsampler="direct")
    signature = UpscalerSignature(scale=4, channels=3, image_size=16)
    path = tmp_path_factory.mktemp("upscaler") / "model.onnx"
    parity = export_upscaler(generator, signature, path)
    ModelStore(stack.state_dir / "artifacts" / "models").register(
        MODEL, path, task="upscale", architecture="msrresnet",
        config={"features": 8, "blocks": 1, "scale": 4, "upsampler": "direct"}, signature=signature,
        provenance=Provenance(trainer="test", dataset="none", seed=0, steps=0), parity_max_abs_diff=parity,
    )
    return MODEL


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode=mode).save(out, format="PNG")
    return out.getvalue()


def picture(height=48, width=40, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.repeat(np.repeat(rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8), 4, 0), 4, 1)


def multipart(api, data: bytes, wait=60, headers=None, **fields):
    return api.post("/upscale", files={"image": ("in.png", data, "image/png")},
                    data={k: str(v) for k, v in fields.items()}, headers={"Prefer": f"wait={wait}", **(headers or {})})


def as_json(api, data: bytes, wait=60, **fields):
    body = {"image": "data:image/png;base64," + base64.b64encode(data).decode(), **fields}
    return api.post("/upscale", json=body, headers={"Prefer": f"wait={wait}"})


def output_image(api, job) -> tuple[Image.Image, bytes]:
    (output,) = job["outputs"]
    content = api.get(output["url"]).content
    return Image.open(io.BytesIO(content)), content


def test_multipart_at_the_networks_factor(api, upscaler):
    answer = multipart(api, png_bytes(picture()), model=upscaler)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded" and job["kind"] == "upscale", job
    assert job["params"]["outscale"] == 4 and job["params"]["input_size"] == [40, 48]
    image, _ = output_image(api, job)
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (160, 192)


def test_base64_with_a_fractional_outscale(api, upscaler):
    answer = as_json(api, png_bytes(picture()), model=upscaler, outscale=2.5, format="jpeg")
    job = answer.json()
    assert answer.status_code == 200 and job["status"] == "succeeded", job
    image, _ = output_image(api, job)
    assert image.format == "JPEG" and image.size == (100, 120)


def test_tiling_params_give_the_same_bytes_as_one_run(api, upscaler):
    data = png_bytes(picture(96, 80, seed=3))
    whole = multipart(api, data, model=upscaler, tile=0).json()
    tiled = multipart(api, data, model=upscaler, tile=32, tile_overlap=16).json()
    assert whole["metrics"]["tiles"] == 1 and tiled["metrics"]["tiles"] == 9
    assert output_image(api, whole)[1] == output_image(api, tiled)[1]  # no seams, to the byte


def test_a_repeat_is_served_from_the_cache_byte_identical(api, upscaler):
    data = png_bytes(picture(seed=5))
    first = multipart(api, data, model=upscaler, outscale=3).json()
    again = multipart(api, data, model=upscaler, outscale=3).json()
    assert first["cached"] is False and again["cached"] is True and again["metrics"]["cached_from"] == first["id"]
    assert first["outputs"][0]["sha256"] == again["outputs"][0]["sha256"]
    assert output_image(api, first)[1] == output_image(api, again)[1]


def test_alpha_gray_and_sixteen_bit_inputs(api, upscaler):
    rgba = np.dstack([picture(), np.full((48, 40), 200, np.uint8)])
    image, _ = output_image(api, multipart(api, png_bytes(rgba), model=upscaler).json())
    assert image.mode == "RGBA" and image.size == (160, 192) and np.asarray(image)[..., 3].min() == 200

    gray = picture()[..., 0]
    image, _ = output_image(api, multipart(api, png_bytes(gray), model=upscaler, outscale=2).json())
    assert image.mode == "L" and image.size == (80, 96)

    deep = gray.astype(np.uint16) * 257 + 3
    job = multipart(api, png_bytes(deep), model=upscaler).json()
    assert job["status"] == "succeeded" and job["metrics"]["bits"] == 16, job
    image, _ = output_image(api, job)
    assert image.mode in ("I;16", "I") and image.size == (160, 192)
    assert np.asarray(image).max() > 255


def test_client_mistakes_are_problems(api, upscaler, stack):
    data = png_bytes(picture())
    cases = [
        (multipart(api, b"not an image at all", model=upscaler), 422, "corrupt-image"),
        (multipart(api, data, model="no-such-model"), 404, "unknown-model"),
        (multipart(api, data, model="mnist-cdcgan"), 422, "wrong-task"),
        (multipart(api, data, model=upscaler, outscale=40), 422, "validation-error"),
        (multipart(api, data, model=upscaler, tile=8), 422, "validation-error"),
        (multipart(api, data, model=upscaler, format="gif"), 422, "validation-error"),
        (multipart(api, data, model=upscaler, colour="blue"), 422, "validation-error"),
        (as_json(api, data), 422, "validation-error"),  # no model
    ]
    for answer, status, kind in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM) and answer.json()["type"].endswith(kind)
    fields = {e["field"] for answer, _, _ in cases[3:6] for e in answer.json()["errors"]}
    assert fields == {"outscale", "tile", "format"}


def test_too_many_pixels_in_or_out_is_413(api, upscaler):
    huge = Image.new("L", (4200, 4200), 7)  # 17.6 M pixels, over the 4096 x 4096 input cap
    out = io.BytesIO()
    huge.save(out, format="PNG")
    answer = multipart(api, out.getvalue(), model=upscaler)
    assert answer.status_code == 413 and answer.json()["type"].endswith("image-too-large")

    big = io.BytesIO()
    Image.new("RGB", (2100, 2100), (1, 2, 3)).save(big, format="PNG")  # x4: 8400^2 > 8192^2 output cap
    answer = multipart(api, big.getvalue(), model=upscaler)
    assert answer.status_code == 413 and answer.json()["type"].endswith("output-too-large")
    assert answer.json()["errors"][0]["field"] == "outscale"

    untiled = io.BytesIO()
    Image.new("RGB", (1100, 1000), (1, 2, 3)).save(untiled, format="PNG")
    answer = multipart(api, untiled.getvalue(), model=upscaler, tile=0)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "tile"


def test_idempotency_key_replays_the_same_job(api, upscaler):
    data = png_bytes(picture(seed=9))
    first = multipart(api, data, wait=0, headers={"Idempotency-Key": "up-1"}, model=upscaler)
    again = multipart(api, data, wait=0, headers={"Idempotency-Key": "up-1"}, model=upscaler)
    assert first.json()["id"] == again.json()["id"] and again.headers.get("idempotent-replayed") == "true"
    other = multipart(api, png_bytes(picture(seed=10)), wait=0, headers={"Idempotency-Key": "up-1"}, model=upscaler)
    assert other.status_code == 422


def test_post_train_srgan_on_an_uploaded_images_dataset_registers_an_upscaler(api):
    rng = np.random.default_rng(0)
    files = {f"{i}.png": png_bytes(np.repeat(np.repeat(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), 4, 0), 4, 1))
             for i in range(6)}
    upload = api.post("/datasets", files={"file": ("hr.zip", zip_bytes(files))}, data={"layout": "images"})
    assert upload.status_code == 201, upload.text
    body = {
        "architecture": "srgan", "dataset": upload.json()["id"], "model_name": "tiny-srgan", "steps": 3,
        "promote": "always",  # 3 steps do not beat bicubic; served by bare name below
        "image_size": 32, "seed": 0, "checkpoint_every": 0, "sample_every": 0,
        "hyperparameters": {"scale": 2, "features": 8, "blocks": 1, "patch_size": 8, "batch_size": 2,
                            "d_features": 8, "pretrain_fraction": 0.34},
    }
    answer = api.post("/train", json=body)
    assert answer.status_code == 202, answer.text
    job = wait_for_status(api, answer.json()["id"], {"succeeded", "failed", "canceled"}, timeout_s=240)
    assert job["status"] == "succeeded", job
    assert job["metrics"]["steps"] == 3 and job["metrics"]["feature_loss"] == "feature_matching"
    assert job["outputs"] and job["outputs"][-1]["name"].startswith("sample-")
    manifest = api.get(f"/models/tiny-srgan/versions/{job['model']['version']}").json()
    assert manifest["task"] == "upscale" and manifest["signature"]["scale"] == 2
    assert manifest["provenance"]["trainer"] == "srgan" and manifest["parity_max_abs_diff"] <= 1e-4

    served = multipart(api, png_bytes(picture()), model="tiny-srgan").json()
    assert served["status"] == "succeeded" and output_image(api, served)[0].size == (80, 96)

    for hyperparameters in ({"scale": 3}, {"feature_loss": "vgg"}):  # no VGG weights on workers
        bad = api.post("/train", json={**body, "hyperparameters": hyperparameters})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("hyperparameters."), bad.text


def test_the_bundled_sr_x4_is_served_and_beats_bicubic_on_a_held_out_crop(api):
    from training.data.super_resolution import load_photo
    from training.evaluation.metrics.fidelity import psnr
    from training.zoo.super_resolution import bicubic_pair

    hr = load_photo("coffee")[100:292, 200:392]  # 192 x 192, never trained on
    lr, bicubic = bicubic_pair(hr, 4)
    job = multipart(api, png_bytes(lr), model="sr-x4", tile=32).json()
    assert job["status"] == "succeeded" and job["model"]["name"] == "sr-x4", job
    image, _ = output_image(api, job)
    upscaled = np.asarray(image.convert("RGB"))
    assert psnr(upscaled, hr, crop_border=4) > psnr(bicubic, hr, crop_border=4) + 0.3
