"""/translate says when its input is far from what the translator was trained on (issue 27, item 7):
the bundled edges2digits-pix2pix records its training inputs' profile, and an answer's
`metrics.warnings` names what is off (a photo; thin lines on a large picture), empty for an
input like its training data."""

import base64
import io

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.feature import canny
from skimage.transform import resize

from training.data.translation import edges2digits

pytestmark = pytest.mark.integration


def png(gray: np.ndarray) -> str:
    out = io.BytesIO()
    Image.fromarray(np.clip(gray * 255, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def warnings(api, gray: np.ndarray, **fields) -> list[str]:
    answer = api.post("/translate", json={"model": "edges2digits-pix2pix", "image": png(gray), **fields},
                      headers={"Prefer": "wait=60"})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded", job
    return job["metrics"]["warnings"]


def test_the_manifest_says_what_input_the_translator_expects(api):
    profile = api.get("/models/edges2digits-pix2pix").json()["latest"]["metrics"]["input_profile"]["a2b"]
    assert profile["domain"] == "Canny edges of a handwritten digit" and profile["image_size"] == 32
    assert profile["ink"] == "light on a dark background" and 1 <= profile["stroke_px"] <= 2
    assert "0-255" in profile["value_range"] and 0 < profile["gray_mean"] < 0.2


def test_an_input_like_the_training_data_gets_no_warning_and_others_are_named(api):
    task = edges2digits()
    held_out = (task.test_a[3, 0] + 1) / 2
    assert warnings(api, held_out) == []

    photo = data.camera()[::4, ::4] / 255.0  # 128 x 128 gray photo
    (first, *_) = warnings(api, photo)
    assert "mean gray level" in first and "Canny edges of a handwritten digit" in first

    digit = resize((task.test_b[3, 0] + 1) / 2, (96, 96), order=1)
    thin_lines = canny(digit, sigma=2).astype(np.float32)  # 1-px edges drawn at 96 px
    faded = warnings(api, thin_lines)
    assert any("ink as the network sees it" in w for w in faded), faded
    assert warnings(api, thin_lines, resize="none") != faded  # measured as the network sees it
