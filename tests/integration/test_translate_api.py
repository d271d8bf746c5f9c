"""POST /translate against the real stack: tiny random-weight translators registered in the
stack's model store, requests as JSON (base64, data URI) and multipart."""

import base64
import io

import numpy as np
import pytest
from conftest import wait_for_status
from PIL import Image
from translate_models import register_tiny

from service.core.settings import load_settings

pytestmark = pytest.mark.integration

WAIT = {"Prefer": "wait=60"}


@pytest.fixture(scope="module")
def translators(stack):
    """tiny-p2p: gray -> RGB (a2b only); tiny-cyc: gray A <-> RGB B (both directions)."""
    root = load_settings(state_dir=stack.state_dir).models_dir
    register_tiny(root, "tiny-p2p", "pix2pix", 1, 3)
    register_tiny(root, "tiny-cyc", "cyclegan", 1, 3)
    return root


def image_bytes(array: np.ndarray, fmt: str = "PNG", **save) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format=fmt, **save)
    return out.getvalue()


def noise(height: int, width: int, channels: int | None = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def output_image(api, job: dict) -> Image.Image:
    assert job["status"] == "succeeded", job
    (output,) = job["outputs"]
    return Image.open(io.BytesIO(api.get(output["url"]).content))


def post_json(api, data: bytes, **fields):
    body = {"image": base64.b64encode(data).decode(), **fields}
    return api.post("/translate", json=body, headers=WAIT)


def post_multipart(api, data: bytes, **fields):
    return api.post("/translate", files={"image": ("in.png", data, "image/png")}, data=fields, headers=WAIT)


def test_json_base64_and_multipart_give_the_same_image_at_an_odd_size(api, translators):
    data = image_bytes(noise(37, 53, None))
    by_json = post_json(api, data, model="tiny-p2p")
    assert by_json.status_code == 200, by_json.text
    job = by_json.json()
    assert job["kind"] == "translate" and job["params"]["direction"] == "a2b" and job["params"]["width"] == 53
    first = output_image(api, job)
    assert first.size == (53, 37) and first.mode == "RGB"  # gray in, the model's RGB out, the input's size
    # by default the shorter side is brought to the training size (32) and the U-Net runs in tiles of it
    assert job["metrics"]["scaled_to"] == [46, 32] and job["metrics"]["network_size"] == [32, 32]

    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    assert api.post("/translate", json={"image": uri, "model": "tiny-p2p", "format": "webp"}, headers=WAIT).json()["status"] == "succeeded"
    by_form = post_multipart(api, data, model="tiny-p2p", format="png")
    assert by_form.status_code == 200, by_form.text
    second = by_form.json()
    assert second["cached"] is True  # same bytes, model and settings: the same answer from the cache
    assert api.get(second["outputs"][0]["url"]).content == api.get(job["outputs"][0]["url"]).content


def test_a_repeat_is_answered_from_the_cache_byte_identical(api, translators):
    data = image_bytes(noise(20, 24, 3, seed=5))
    first = post_multipart(api, data, model="tiny-cyc", direction="b2a").json()
    again = post_multipart(api, data, model="tiny-cyc", direction="b2a").json()
    assert first["cached"] is False and again["cached"] is True and again["id"] != first["id"]
    assert again["outputs"][0]["sha256"] == first["outputs"][0]["sha256"]
    assert api.get(again["outputs"][0]["url"]).content == api.get(first["outputs"][0]["url"]).content
    other = post_multipart(api, data, model="tiny-cyc", direction="b2a", format="jpeg").json()
    assert other["cached"] is False and other["outputs"][0]["content_type"] == "image/jpeg"


def test_rgba_keeps_its_alpha_and_grayscale_goes_into_an_rgb_direction(api, translators):
    rgba = noise(30, 22, 4, seed=2)
    job = post_multipart(api, image_bytes(rgba), model="tiny-cyc", direction="b2a").json()
    out = output_image(api, job)
    assert out.mode == "LA" and out.size == (22, 30)  # the b2a direction makes gray; alpha carried through
    assert np.array_equal(np.asarray(out)[..., 1], rgba[..., 3])

    gray = post_multipart(api, image_bytes(noise(12, 12, None)), model="tiny-cyc", direction="b2a").json()
    assert output_image(api, gray).size == (12, 12)
    la = np.stack([noise(16, 16, None), np.full((16, 16), 77, np.uint8)], axis=2)
    to_rgb = output_image(api, post_multipart(api, image_bytes(la), model="tiny-cyc", direction="a2b").json())
    assert to_rgb.mode == "RGBA" and (np.asarray(to_rgb)[..., 3] == 77).all()


def test_exif_orientation_is_applied(api, translators):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = io.BytesIO()
    Image.fromarray(noise(10, 40, 3)).save(out, format="JPEG", exif=exif)
    job = post_multipart(api, out.getvalue(), model="tiny-cyc", direction="b2a").json()
    assert output_image(api, job).size == (10, 40) and job["metrics"]["input_size"] == [10, 40]


def test_resize_fit_scales_to_the_training_size(api, translators):
    job = post_json(api, image_bytes(noise(100, 50, 4)), model="tiny-p2p", resize="fit").json()
    out = output_image(api, job)
    assert out.size == (16, 32) and out.mode == "RGBA" and job["metrics"]["network_size"] == [32, 32]


def problem(answer, status: int, type_suffix: str, field: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["type"].endswith(type_suffix), body
    if field:
        assert any(e["field"] == field for e in body["errors"]), body
    return body


def test_client_mistakes_are_problems(api, translators):
    data = image_bytes(noise(8, 8, 3))
    problem(post_multipart(api, b"\x89PNG\r\n\x1a\nnot really", model="tiny-p2p"), 422, "corrupt-image", "image")
    huge = image_bytes(np.zeros((2049, 2049), np.uint8))  # 4.2 Mpx of zeros: a few kB of PNG
    problem(post_multipart(api, huge, model="tiny-p2p"), 413, "image-too-large")
    problem(post_json(api, data, model="tiny-cyc", direction="c2d"), 422, "validation-error", "direction")
    problem(post_json(api, data, model="tiny-p2p", direction="b2a"), 422, "unknown-direction", "direction")
    problem(post_json(api, data, model="no-such-model"), 404, "unknown-model")
    problem(post_json(api, data, model="mnist-cdcgan"), 422, "wrong-task", "model")
    problem(post_json(api, data, model="tiny-p2p", format="gif"), 422, "validation-error", "format")
    problem(post_json(api, data, model="tiny-p2p", resize="stretch"), 422, "validation-error", "resize")
    problem(api.post("/translate", json={"model": "tiny-p2p"}), 422, "validation-error", "image")
    problem(api.post("/translate", json={"model": "tiny-p2p", "image": "%%%"}), 422, "validation-error", "image")


def test_idempotency_key_replays_the_same_job(api, translators):
    data = image_bytes(noise(9, 9, 3, seed=9))
    headers = {**WAIT, "Idempotency-Key": "translate-once"}
    files = {"image": ("a.png", data, "image/png")}
    first = api.post("/translate", files=files, data={"model": "tiny-cyc", "direction": "b2a"}, headers=headers)
    second = api.post("/translate", files=files, data={"model": "tiny-cyc", "direction": "b2a"}, headers=headers)
    assert second.json()["id"] == first.json()["id"] and second.headers["Idempotent-Replayed"] == "true"
    other = image_bytes(noise(9, 9, 3, seed=10))
    reused = api.post("/translate", files={"image": ("a.png", other, "image/png")}, data={"model": "tiny-cyc", "direction": "b2a"},
                      headers=headers)
    assert reused.status_code == 422


def test_a_queued_job_finishes_without_prefer_wait(api, translators):
    answer = post_json(api, image_bytes(noise(11, 13, 3, seed=3)), model="tiny-cyc", direction="b2a")
    job = answer.json()
    finished = wait_for_status(api, job["id"], {"succeeded", "failed"}, timeout_s=60)
    assert finished["status"] == "succeeded" and finished["metrics"]["output_size"] == [13, 11]
