"""One call for an image: Accept: image/* with Prefer: wait answers the picture itself; `grid`
tiles n images into one picture; `inline` puts finished outputs in the JSON as data URIs."""

import base64
import io

import pytest
from PIL import Image

from service.core import keys

pytestmark = pytest.mark.integration


def _png(size=(24, 24), color=(40, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_generate_answers_the_png_itself_equal_to_the_jobs_output(api):
    answer = api.post("/generate", json={"model": "mnist-cdcgan", "seed": 123, "labels": [4]},
                      headers={"Accept": "image/png", "Prefer": "wait=30"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    job_id = answer.headers["GANForge-Job-Id"]
    assert answer.headers["Location"] == f"/jobs/{job_id}"
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "succeeded"
    (output,) = job["outputs"]
    assert answer.headers["Content-Location"] == output["url"]
    assert answer.content == api.get(output["url"]).content
    assert Image.open(io.BytesIO(answer.content)).size == (28, 28)


def test_a_repeat_in_one_call_is_a_cache_hit_with_the_same_bytes_unless_its_picture_is_gone(api, stack):
    body, headers = {"model": "mnist-cdcgan", "seed": 321, "labels": [2]}, {"Accept": "image/png", "Prefer": "wait=30"}
    first = api.post("/generate", json=body, headers=headers)
    repeat = api.post("/generate", json=body, headers=headers)
    assert repeat.status_code == 200 and repeat.content == first.content
    hit = api.get(repeat.headers["Location"]).json()
    assert hit["cached"] is True and hit["metrics"]["cached_from"] == first.headers["GANForge-Job-Id"]
    assert repeat.headers["ETag"] == f'"{hit["outputs"][0]["sha256"]}"'
    stack.redis.delete(keys.blob(hit["outputs"][0]["sha256"]))  # what the TTL or eviction does
    again = api.post("/generate", json=body, headers=headers)
    assert again.status_code == 200 and again.content == first.content  # computed again, not a 410
    assert api.get(again.headers["Location"]).json()["cached"] is False


def test_accept_sets_the_format_and_a_conflicting_format_is_406(api):
    jpeg = api.post("/generate", json={"model": "mnist-cdcgan", "seed": 5},
                    headers={"Accept": "image/jpeg", "Prefer": "wait=30"})
    assert jpeg.status_code == 200, jpeg.text
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"
    clash = api.post("/generate", json={"model": "mnist-cdcgan", "seed": 5, "format": "png"},
                     headers={"Accept": "image/webp"})
    assert clash.status_code == 406
    assert clash.headers["content-type"] == "application/problem+json"
    assert clash.json()["type"].endswith("/not-acceptable")


def test_many_images_without_grid_cannot_be_one_picture(api):
    refused = api.post("/generate", json={"model": "mnist-cdcgan", "n": 4}, headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert "grid" in refused.json()["detail"]


def test_grid_is_one_picture_of_n_images(api):
    answer = api.post("/generate", json={"model": "mnist-cdcgan", "n": 9, "seed": 3, "grid": True},
                      headers={"Accept": "image/png", "Prefer": "wait=30"})
    assert answer.status_code == 200, answer.text
    job = api.get(answer.headers["Location"]).json()
    assert [o["name"] for o in job["outputs"]] == ["grid.png"]
    grid = Image.open(io.BytesIO(answer.content))
    # 3 x 3 tiles of 28 px, 2 px apart and around
    assert grid.size == (3 * 28 + 4 * 2, 3 * 28 + 4 * 2)


def test_inline_outputs_are_data_uris_of_the_same_bytes(api):
    answer = api.post("/generate", json={"model": "mnist-cdcgan", "n": 3, "seed": 11, "inline": True},
                      headers={"Prefer": "wait=30"})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert len(job["outputs"]) == 3
    assert "inline" not in job["params"]  # how to answer is not part of what was computed
    for output in job["outputs"]:
        head, _, payload = output["data_uri"].partition(",")
        assert head == "data:image/png;base64"
        assert base64.b64decode(payload) == api.get(output["url"]).content
    # without inline the same job's JSON names URLs only
    plain = api.post("/generate", json={"model": "mnist-cdcgan", "n": 3, "seed": 11}, headers={"Prefer": "wait=30"})
    assert plain.json()["cached"] is True  # inline left the cache key alone
    assert all(o["data_uri"] is None for o in plain.json()["outputs"])


def test_upscale_and_translate_answer_their_picture(api):
    upscaled = api.post("/upscale", files={"image": ("small.png", _png(), "image/png")}, data={"model": "sr-x4"},
                        headers={"Accept": "image/png", "Prefer": "wait=60"})
    assert upscaled.status_code == 200, upscaled.text
    assert Image.open(io.BytesIO(upscaled.content)).size == (96, 96)
    job = api.get(upscaled.headers["Location"]).json()
    assert upscaled.content == api.get(job["outputs"][0]["url"]).content

    translated = api.post("/translate", files={"image": ("digit.png", _png((32, 32), (0, 0, 0)), "image/png")},
                          data={"model": "edges2digits-pix2pix"},
                          headers={"Accept": "image/webp", "Prefer": "wait=60"})
    assert translated.status_code == 200, translated.text
    assert translated.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(translated.content)).size == (32, 32)


def test_a_job_not_done_within_the_wait_is_answered_202_with_its_json(api):
    # No seed, so no cached answer; `wait=0` answers at once, before any worker could finish.
    answer = api.post("/generate", json={"model": "mnist-cdcgan", "n": 16, "grid": True},
                      headers={"Accept": "image/png", "Prefer": "wait=0"})
    assert answer.status_code == 202, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    job = answer.json()
    assert job["status"] == "queued"
    assert answer.headers["Location"] == f"/jobs/{job['id']}"
