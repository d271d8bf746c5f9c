"""/datasets over HTTP against the real API process: uploads, built-ins, and every attack refused
with problem+json naming the failing files, leaving nothing under artifacts/datasets."""

import io
import tarfile

import pytest
from archives import classes_files, png, tar_bytes, tar_entry, truncated_png, zip_bytes
from conftest import make_stack
from PIL import Image

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
BUILTINS = {"mnist-5k", "digits", "skimage-photos", "lfw-faces"}


def post(api, data: bytes, layout: str | None = "classes", filename: str = "pets.zip", name: str | None = None):
    form = {key: value for key, value in (("layout", layout), ("name", name)) if value is not None}
    return api.post("/datasets", files={"file": (filename, data, "application/octet-stream")}, data=form)


def snapshot(stack) -> set:
    root = stack.state_dir / "artifacts" / "datasets"
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.mark.parametrize("filename, data", [
    ("pets.zip", zip_bytes(classes_files("pets/"))),
    ("pets.tar.gz", tar_bytes(classes_files())),
])
def test_upload_get_preview_list_and_delete(api, stack, filename, data):
    answer = post(api, data, filename=filename, name="pets")
    assert answer.status_code == 201, answer.text
    dataset = answer.json()
    assert answer.headers["location"] == f"/datasets/{dataset['id']}"
    assert dataset["builtin"] is False and dataset["name"] == "pets" and dataset["layout"] == "classes"
    assert dataset["num_images"] == 6
    assert dataset["classes"] == [{"name": "cat", "count": 3}, {"name": "dog", "count": 3}]
    assert dataset["sizes"] == [{"width": 12, "height": 12, "count": 6}]
    assert dataset["source"]["filename"] == filename
    assert api.get(f"/datasets/{dataset['id']}").json() == dataset

    preview = api.get(dataset["preview_url"])
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).format == "PNG"

    listed = {d["id"]: d for d in api.get("/datasets").json()["datasets"]}
    assert dataset["id"] in listed and BUILTINS <= set(listed)
    assert all(listed[name]["builtin"] for name in BUILTINS)

    folder = stack.state_dir / "artifacts" / "datasets" / dataset["id"]
    assert (folder / "dataset.json").is_file()
    assert api.delete(f"/datasets/{dataset['id']}").status_code == 204
    assert not folder.exists()
    gone = api.get(f"/datasets/{dataset['id']}")
    assert gone.status_code == 404 and gone.headers["content-type"] == PROBLEM


def test_builtins_have_details_and_previews_and_cannot_be_deleted(api):
    faces = api.get("/datasets/lfw-faces").json()
    assert faces["builtin"] is True and faces["num_images"] == 100 and faces["layout"] == "images"
    assert api.get("/datasets/mnist-5k").json()["classes"][3]["name"] == "3"
    preview = api.get("/datasets/lfw-faces/preview.png")
    assert preview.status_code == 200 and Image.open(io.BytesIO(preview.content)).size[0] > 100
    refused = api.delete("/datasets/lfw-faces")
    assert refused.status_code == 409 and refused.json()["type"].endswith("/builtin-dataset")
    for path in ("/datasets/0123456789ab", "/datasets/nope/preview.png"):
        assert api.get(path).status_code == 404
    assert api.delete("/datasets/0123456789ab").status_code == 404


ATTACKS = {
    "zip slip": (zip_bytes({**classes_files(), "../evil.png": png()}), 422, "unsafe-archive", {"file:../evil.png"}),
    "absolute path": (tar_bytes({**classes_files(), "/etc/evil.png": png()}), 422, "unsafe-archive", {"file:/etc/evil.png"}),
    "symlink": (tar_bytes(classes_files(), specials=[tar_entry("cat/x.png", tarfile.SYMTYPE, "/etc/passwd")]),
                422, "unsafe-archive", {"file:cat/x.png"}),
    "zip symlink": (zip_bytes(classes_files(), symlinks={"dog/x.png": "/etc/passwd"}), 422, "unsafe-archive", {"file:dog/x.png"}),
    "hardlink": (tar_bytes(classes_files(), specials=[tar_entry("cat/x.png", tarfile.LNKTYPE, "/etc/passwd")]),
                 422, "unsafe-archive", {"file:cat/x.png"}),
    "zip bomb": (zip_bytes({**classes_files(), "cat/bomb.bmp": bytes(8 << 20)}), 413, "compression-ratio", {"file:cat/bomb.bmp"}),
    "bad images": (zip_bytes({**classes_files(), "cat/b.png": truncated_png(), "dog/c.jpg": b"junk"}),
                   422, "bad-images", {"file:cat/b.png", "file:dog/c.jpg"}),
    "truncated": (tar_bytes(classes_files())[:300], 422, "broken-archive", set()),
    "not an archive": (b"%PDF-1.7 definitely not a zip", 422, "broken-archive", set()),
    "wrong layout": (zip_bytes({**classes_files(), "stray.png": png()}), 422, "bad-layout", {"file:stray.png"}),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_attack_is_refused_and_leaves_nothing(api, stack, attack):
    data, status, type_, fields = ATTACKS[attack]
    before = snapshot(stack)
    answer = post(api, data)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"].endswith(f"/{type_}") and problem["status"] == status and problem["detail"]
    assert {e["field"] for e in problem.get("errors", [])} == fields
    assert snapshot(stack) == before


def test_form_mistakes_are_named(api):
    answer = post(api, zip_bytes(classes_files()), layout="sideways")
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "layout"
    answer = api.post("/datasets", data={"layout": "classes"}, files={"other": ("x", b"x")})
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["other"]
    assert "send the archive as `file`" in answer.json()["detail"]  # the unknown part, named with the expected one
    answer = api.post("/datasets", json={"layout": "classes"})
    assert answer.status_code == 415 and answer.headers["content-type"] == PROBLEM


@pytest.fixture(scope="module")
def small_cap_api(tmp_path_factory):
    with make_stack(tmp_path_factory, "small-cap", GANFORGE_MAX_UPLOAD_BYTES=64 * 1024) as stack:
        stack.start_api()
        with stack.client() as client:
            yield stack, client


def test_upload_over_the_cap_is_413_with_or_without_content_length(small_cap_api):
    stack, api = small_cap_api
    assert post(api, zip_bytes(classes_files())).status_code == 201  # under the cap

    big = bytes(256 * 1024)
    declared = post(api, big)
    assert declared.status_code == 413 and declared.json()["type"].endswith("/upload-too-large")

    boundary = "ganforge-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"layout\"\r\n\r\nclasses\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.zip\"\r\n\r\n").encode()

    def chunked():  # no Content-Length: the server must count
        yield head
        for _ in range(16):
            yield bytes(16 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = api.post("/datasets", content=chunked(), headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert streamed.status_code == 413 and streamed.headers["content-type"] == PROBLEM
    root = stack.state_dir / "artifacts" / "datasets"
    assert list((root / ".uploads").iterdir()) == []
    assert len([p for p in root.iterdir() if not p.name.startswith(".")]) == 1
