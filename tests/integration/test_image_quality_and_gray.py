"""`quality` for JPEG and WebP on /generate, /translate and /upscale, and gray staying gray in
every format that has gray (PNG, JPEG; WebP's bitstream has none, so gray comes back R = G = B)."""

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.integration

WAIT = {"Prefer": "wait=60"}


def outputs(api, answer) -> tuple[list[Image.Image], list[int]]:
    """The job's output images and their sizes in bytes."""
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded", job
    data = [api.get(o["url"]).content for o in job["outputs"]]
    return [Image.open(io.BytesIO(d)) for d in data], [len(d) for d in data]


def generated(api, **fields):
    body = {"model": "mnist-cdcgan", "n": 4, "seed": 3, "grid": True, **fields}
    (image,), (size,) = outputs(api, api.post("/generate", json=body, headers=WAIT))
    return image, size


def test_quality_sets_jpeg_and_webp_size_on_generate(api):
    for fmt in ("jpeg", "webp"):
        low, low_size = generated(api, format=fmt, quality=5)
        high, high_size = generated(api, format=fmt, quality=100)
        assert low.format == high.format == fmt.upper()
        assert low_size < high_size, (fmt, low_size, high_size)
    default, default_size = generated(api, format="jpeg")
    ninety, ninety_size = generated(api, format="jpeg", quality=90)
    assert default_size == ninety_size  # the default is 90
    for bad in (0, 101, "high"):
        answer = api.post("/generate", json={"model": "mnist-cdcgan", "format": "jpeg", "quality": bad})
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "quality", answer.text


def test_a_gray_model_stays_gray(api):
    assert generated(api, format="png")[0].mode == "L"
    assert generated(api, format="jpeg")[0].mode == "L"
    webp = np.asarray(generated(api, format="webp", quality=100)[0].convert("RGB")).astype(int)
    assert (np.abs(webp[..., 0] - webp[..., 1]) <= 1).all() and (np.abs(webp[..., 1] - webp[..., 2]) <= 1).all()


def test_quality_reaches_translate_and_upscale(api):
    edges = io.BytesIO()
    Image.open("docs/edges2digits-input.png").save(edges, format="PNG")
    sizes = {}
    for quality in (5, 95):
        answer = api.post("/translate", files={"image": ("e.png", edges.getvalue(), "image/png")},
                          data={"model": "edges2digits-pix2pix", "format": "jpeg", "quality": str(quality)}, headers=WAIT)
        (image,), (size,) = outputs(api, answer)
        assert image.mode == "L" and image.format == "JPEG"
        sizes[quality] = size
    assert sizes[5] < sizes[95]
    photo = np.random.default_rng(0).integers(0, 256, (24, 24, 3), np.uint8)
    data = io.BytesIO()
    Image.fromarray(photo).save(data, format="PNG")
    for quality in (5, 95):
        answer = api.post("/upscale", files={"image": ("p.png", data.getvalue(), "image/png")},
                          data={"model": "sr-x4", "format": "webp", "quality": str(quality), "tile": "0"}, headers=WAIT)
        (image,), (size,) = outputs(api, answer)
        assert image.format == "WEBP" and image.size == (96, 96)
        sizes[f"up{quality}"] = size
    assert sizes["up5"] < sizes["up95"]
