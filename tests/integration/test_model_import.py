"""Checkpoints the field trained, imported over HTTP on the real stack and served equal to the
reference network; every way an import can be wrong answered 4xx naming it.

Adding a format's case: build its checkpoint under the reference project's names (a unit test of
the format usually has the helper), `imported = import_checkpoint(importer, name, {"file": path},
"<format>", options)`, assert `imported.status_code == 201`, then serve it and compare with the
reference computation (see `test_dcgan_imported_serves_the_reference_network`).
"""

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from conftest import make_stack, wait_for_status
from dcgan_reference import reference_forward, reference_state
from junyanz_reference import resnet_reference, resnet_state, unet_reference, unet_state
from PIL import Image
from safetensors.torch import save_file

from models.checkpoints import format_names
from models.inference.latents import sample_latents
from models.inference.pixels import signed_to_uint8
from service.core.api_keys import ApiKeyStore

pytestmark = pytest.mark.integration

CAP = 4 << 20  # GANFORGE_MAX_CHECKPOINT_BYTES of this module's stack
NZ, NGF, NC = 16, 4, 3


class Snapshot:
    """What an NVIDIA .pkl holds: objects whose class must be imported to load them."""


@pytest.fixture(scope="module")
def import_stack(tmp_path_factory):
    """A stack of the module's own: a small checkpoint cap, so the 413 costs a few megabytes."""
    with make_stack(tmp_path_factory, "imports", GANFORGE_MAX_CHECKPOINT_BYTES=CAP) as stack:
        stack.start_worker()
        stack.start_api()
        yield stack


def _client(stack, key_name: str, scopes: list[str], owner: str) -> httpx.Client:
    key, _ = ApiKeyStore(stack.redis).create(key_name, scopes, owner=owner, rate="unlimited")
    return stack.client(key)


@pytest.fixture(scope="module")
def importer(import_stack):
    """A key that may import and infer, owned by 'byo' (not an admin)."""
    with _client(import_stack, "importer", ["infer", "models:write"], "byo") as client:
        yield client


def import_checkpoint(client: httpx.Client, name: str, files: dict[str, Path | list[Path]], format: str | None,
                      options: dict | str | None = None, wait_s: int = 120) -> httpx.Response:
    """POST /models/{name}/import: `files` by part name (a list sends the part repeated); answers
    the response (201 with the manifest when it worked)."""
    parts = [(field, (path.name, path.read_bytes())) for field, paths in files.items()
             for path in (paths if isinstance(paths, list) else [paths])]
    data = {}
    if format is not None:
        data["format"] = format
    if options is not None:
        data["options"] = options if isinstance(options, str) else json.dumps(options)
    return client.post(f"/models/{name}/import", files=parts, data=data, headers={"Prefer": f"wait={wait_s}"},
                       timeout=wait_s + 30)


def imported_manifest(client: httpx.Client, name: str, files, format: str, options: dict | None = None) -> dict:
    answer = import_checkpoint(client, name, files, format, options)
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def dcgan(tmp_path_factory) -> tuple[dict[str, torch.Tensor], Path, Path]:
    """netG random weights, saved as dcgan/main.py saves them and as safetensors."""
    folder = tmp_path_factory.mktemp("dcgan")
    state = reference_state(nz=NZ, ngf=NGF, nc=NC, seed=3)
    torch.save(state, folder / "netG.pth")
    save_file(state, folder / "netG.safetensors")
    return state, folder / "netG.pth", folder / "netG.safetensors"


def _reference(state, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return reference_forward(state, torch.from_numpy(z)).numpy()


@pytest.mark.parametrize("saved_as", ["torch.save", "safetensors"])
def test_dcgan_imported_serves_the_reference_network(importer, dcgan, saved_as):
    state, pth, safetensors = dcgan
    path = pth if saved_as == "torch.save" else safetensors
    name = f"dcgan-{saved_as.replace('.', '-')}"
    manifest = imported_manifest(importer, name, {"file": path}, "pytorch-examples-dcgan")
    assert manifest["version"] == 1 and manifest["task"] == "generate"
    assert manifest["signature"]["latent_dim"] == NZ and manifest["signature"]["image_size"] == 64
    assert manifest["signature"]["channels"] == NC and manifest["parity_max_abs_diff"] <= 1e-4
    provenance = manifest["provenance"]
    assert provenance["trainer"] == "import:pytorch-examples-dcgan" and provenance["steps"] == 0
    assert provenance["imported_from"]["files"] == [{"name": path.name,
                                                     "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}]

    # /generate draws z from the seed (models/inference/latents.py): the picture is the reference's, to the level.
    picture = importer.post("/generate", json={"model": name, "n": 1, "seed": 11},
                            headers={"Accept": "image/png", "Prefer": "wait=60"})
    assert picture.status_code == 200, picture.text
    served = np.asarray(Image.open(io.BytesIO(picture.content)).convert("RGB")).astype(int)
    expected = signed_to_uint8(_reference(state, sample_latents(11, 1, NZ)))[0].transpose(1, 2, 0).astype(int)
    assert served.shape == (64, 64, 3) and np.abs(served - expected).max() <= 1

    # OIP v2 answers the floats themselves: equal to the reference within 1e-4.
    z = sample_latents(5, 2, NZ)
    infer = importer.post(f"/v2/models/{name}/infer", json={
        "inputs": [{"name": "z", "shape": [2, NZ], "datatype": "FP32", "data": z.ravel().tolist()}],
        "outputs": [{"name": "images"}]})
    assert infer.status_code == 200, infer.text
    images = np.asarray(infer.json()["outputs"][0]["data"], np.float32).reshape(2, NC, 64, 64)
    assert np.abs(images - _reference(state, z)).max() <= 1e-4


def test_a_second_import_leaves_latest_unless_promoted(importer, dcgan):
    _, pth, _ = dcgan
    first = imported_manifest(importer, "dcgan-twice", {"file": pth}, "pytorch-examples-dcgan")
    second = imported_manifest(importer, "dcgan-twice", {"file": pth}, "pytorch-examples-dcgan")
    assert (first["version"], second["version"]) == (1, 2)
    assert importer.get("/models/dcgan-twice").json()["aliases"] == {"latest": 1}
    third = imported_manifest(importer, "dcgan-twice", {"file": pth}, "pytorch-examples-dcgan", {"promote": "always"})
    assert importer.get("/models/dcgan-twice").json()["aliases"] == {"latest": third["version"]}


def test_without_waiting_the_answer_is_the_job_which_ends_with_the_version(importer, dcgan):
    _, pth, _ = dcgan
    answer = import_checkpoint(importer, "dcgan-later", {"file": pth}, "pytorch-examples-dcgan", wait_s=0)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["kind"] == "import_model" and answer.headers["Location"] == f"/jobs/{job['id']}"
    done = wait_for_status(importer, job["id"], {"succeeded", "failed"}, timeout_s=120)
    assert done["status"] == "succeeded", done
    assert done["metrics"]["registered"] == {"name": "dcgan-later", "version": 1}
    assert importer.get("/models/dcgan-later/versions/1").json()["provenance"]["trainer"] == "import:pytorch-examples-dcgan"


def test_unknown_format_bad_options_and_missing_file_are_422s(importer, dcgan):
    _, pth, _ = dcgan
    unknown = import_checkpoint(importer, "dcgan-refused", {"file": pth}, "nvidia-stylegan3")
    assert unknown.status_code == 422 and unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["known_formats"] == format_names()
    assert all(known in unknown.json()["detail"] for known in format_names())

    for options, expected in (("{not json", "not JSON"), ("[1, 2]", "must be a JSON object"),
                              ({"promote": "sometimes"}, "promote")):
        answer = import_checkpoint(importer, "dcgan-refused", {"file": pth}, "pytorch-examples-dcgan", options)
        assert answer.status_code == 422 and expected in answer.json()["detail"], answer.text

    no_file = importer.post("/models/dcgan-refused/import", data={"format": "pytorch-examples-dcgan"},
                            files={"other": ("x.pth", b"1")})
    assert no_file.status_code == 422 and no_file.json()["errors"][0]["field"] == "other"
    no_file = import_checkpoint(importer, "dcgan-refused", {}, "pytorch-examples-dcgan")
    assert no_file.status_code in (415, 422), no_file.text  # an empty form is not even multipart
    three = import_checkpoint(importer, "dcgan-refused", {"file": [pth, pth], "file_b": pth}, "pytorch-examples-dcgan")
    assert three.status_code == 422 and "at most 2 files" in three.json()["detail"]
    only_b = import_checkpoint(importer, "dcgan-refused", {"file_b": pth}, "pytorch-examples-dcgan")
    assert only_b.status_code == 422 and only_b.json()["errors"][0]["field"] == "file"
    two = import_checkpoint(importer, "dcgan-refused", {"file": pth, "file_b": pth}, "pytorch-examples-dcgan")
    assert two.status_code == 422 and "send one file, not 2" in two.json()["detail"]  # the format counts them
    no_format = import_checkpoint(importer, "dcgan-refused", {"file": pth}, None)
    assert no_format.status_code == 422 and no_format.json()["errors"][0]["field"] == "format"
    assert importer.get("/models/dcgan-refused").status_code == 404  # nothing was published


def test_checkpoints_that_do_not_fit_are_422s_naming_what_is_wrong(import_stack, importer, tmp_path):
    state = reference_state(nz=NZ, ngf=NGF, nc=NC)
    state["main.4.weight"] = torch.ones(5)
    torch.save(state, tmp_path / "netG.pth")
    answer = import_checkpoint(importer, "dcgan-bad", {"file": tmp_path / "netG.pth"}, "pytorch-examples-dcgan")
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"].endswith("invalid-checkpoint") and problem["errors"][0]["field"] == "file"
    assert f"main.4.weight (5,) (expected ({NGF * 4},))" in problem["detail"]

    torch.save({"G_ema": Snapshot()}, tmp_path / "network-snapshot.pkl")
    answer = import_checkpoint(importer, "dcgan-bad", {"file": tmp_path / "network-snapshot.pkl"},
                               "pytorch-examples-dcgan")
    assert answer.status_code == 422 and "needs" in answer.json()["detail"]
    assert "state_dict" in answer.json()["detail"] and "Snapshot" in answer.json()["detail"]

    (tmp_path / "junk.pth").write_bytes(os.urandom(2000))
    answer = import_checkpoint(importer, "dcgan-bad", {"file": tmp_path / "junk.pth"}, "pytorch-examples-dcgan")
    assert answer.status_code == 422 and "not a PyTorch or safetensors file" in answer.json()["detail"]
    assert importer.get("/models/dcgan-bad").status_code == 404
    uploads = import_stack.state_dir / "artifacts" / "uploads" / "models"
    assert not uploads.is_dir() or not any(uploads.iterdir())  # every staged upload was removed


def test_a_file_over_the_cap_is_413(importer, tmp_path):
    (tmp_path / "huge.pth").write_bytes(bytes(CAP + 1))
    answer = import_checkpoint(importer, "dcgan-huge", {"file": tmp_path / "huge.pth"}, "pytorch-examples-dcgan")
    assert answer.status_code == 413 and answer.headers["content-type"] == "application/problem+json"
    assert str(CAP) in answer.json()["detail"]


def test_scope_and_ownership(import_stack, importer, dcgan):
    _, pth, _ = dcgan
    imported_manifest(importer, "dcgan-owned", {"file": pth}, "pytorch-examples-dcgan")
    with _client(import_stack, "reader", ["infer"], "byo") as reader:
        answer = import_checkpoint(reader, "dcgan-owned", {"file": pth}, "pytorch-examples-dcgan")
        assert answer.status_code == 403, answer.text
    with _client(import_stack, "stranger", ["infer", "models:write"], "someone-else") as stranger:
        answer = import_checkpoint(stranger, "dcgan-owned", {"file": pth}, "pytorch-examples-dcgan")
        assert answer.status_code == 409 and answer.json()["type"].endswith("model-name-taken")
        assert stranger.get("/models/dcgan-owned").status_code == 404  # not theirs to see
        bundled = import_checkpoint(stranger, "mnist-cdcgan", {"file": pth}, "pytorch-examples-dcgan")
        assert bundled.status_code == 409
    with import_stack.client() as admin:  # an admin may publish under a bundled name, but not another task
        wrong_task = import_checkpoint(admin, "sr-x4", {"file": pth}, "pytorch-examples-dcgan")
    assert wrong_task.status_code == 422 and "upscale model" in wrong_task.json()["detail"]


def test_the_cli_imports_a_checkpoint(import_stack, dcgan, tmp_path):
    _, pth, _ = dcgan
    script = Path(sys.executable).with_name("ganforge")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ganforge"]
    env = {**os.environ, "GANFORGE_URL": import_stack.api_url, "GANFORGE_API_KEY": import_stack.admin_key}
    done = subprocess.run([*command, "models", "import", "dcgan-cli", str(pth), "--format", "pytorch-examples-dcgan"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dcgan-cli:1"
    refused = subprocess.run([*command, "models", "import", "dcgan-cli", str(pth), "--format", "pytorch-examples-dcgan",
                              "--option", "nz=100"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 3 and "takes no options" in refused.stderr


# --- junyanz: pytorch-CycleGAN-and-pix2pix generators --------------------------------------------

def _translated(client: httpx.Client, model: str, pixels: np.ndarray, direction: str = "a2b") -> np.ndarray:
    """/translate at the picture's own pixels (resize none), as uint8 H x W x C."""
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    answer = client.post("/translate", files={"image": ("in.png", png.getvalue(), "image/png")},
                         data={"model": model, "direction": direction, "resize": "none", "format": "png"},
                         headers={"Accept": "image/png", "Prefer": "wait=60"})
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB")).astype(int)


def _expected(forward, pixels: np.ndarray) -> np.ndarray:
    """The reference network on the picture mapped to [-1, 1], back to uint8 H x W x C."""
    signed = torch.from_numpy(pixels.transpose(2, 0, 1)[None].astype(np.float32) / 255 * 2 - 1)
    with torch.no_grad():
        out = forward(signed).numpy()
    return signed_to_uint8(out)[0].transpose(1, 2, 0).astype(int)


def test_junyanz_pix2pix_unet_translates_like_the_reference(importer, tmp_path):
    state = unet_state(7, ngf=4, channels_in=3, channels_out=3, norm="batch", seed=5)
    torch.save(state, tmp_path / "latest_net_G.pth")  # as its save_networks does
    manifest = imported_manifest(importer, "facades-junyanz", {"file": tmp_path / "latest_net_G.pth"}, "junyanz")
    assert (manifest["task"], manifest["architecture"]) == ("translate", "unet_128")
    signature = manifest["signature"]
    assert (signature["image_size"], signature["size_multiple"]) == (128, 128)
    assert list(signature["directions"]) == ["a2b"] and manifest["parity_max_abs_diff"] <= 1e-4
    assert any("eval mode" in note for note in manifest["provenance"]["imported_from"]["notes"])

    def forward(x):
        return unet_reference(state, x, 7, "batch")

    pixels = np.random.default_rng(2).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    served = _translated(importer, "facades-junyanz", pixels)
    assert served.shape == (128, 128, 3) and np.abs(served - _expected(forward, pixels)).max() <= 1

    # OIP v2 answers the floats: the reference's within 1e-4.
    image = np.random.default_rng(3).uniform(-1, 1, (1, 3, 128, 128)).astype(np.float32)
    infer = importer.post("/v2/models/facades-junyanz/infer", json={
        "inputs": [{"name": "image", "shape": list(image.shape), "datatype": "FP32", "data": image.ravel().tolist()}],
        "outputs": [{"name": "translated"}]})
    assert infer.status_code == 200, infer.text
    translated = np.asarray(infer.json()["outputs"][0]["data"], np.float32).reshape(image.shape)
    with torch.no_grad():
        assert np.abs(translated - forward(torch.from_numpy(image)).numpy()).max() <= 1e-4


def test_junyanz_cyclegan_pair_serves_both_directions_at_a_non_square_size(importer, tmp_path):
    g_a = resnet_state(6, ngf=4, channels_in=3, channels_out=3, norm="instance", seed=6)
    g_b = resnet_state(6, ngf=4, channels_in=3, channels_out=3, norm="instance", seed=7)
    torch.save(g_a, tmp_path / "latest_net_G_A.pth")
    torch.save(g_b, tmp_path / "latest_net_G_B.pth")
    # G_B sent first: the file names say which direction is which.
    files = {"file": [tmp_path / "latest_net_G_B.pth", tmp_path / "latest_net_G_A.pth"]}
    manifest = imported_manifest(importer, "horse2zebra-junyanz", files, "junyanz", {"image_size": 64})
    assert manifest["architecture"] == "resnet_6blocks"
    signature = manifest["signature"]
    assert (signature["image_size"], signature["size_multiple"]) == (64, 4)
    assert {d: s["onnx_file"] for d, s in signature["directions"].items()} == {"a2b": "model.onnx", "b2a": "b2a.onnx"}

    pixels = np.random.default_rng(4).integers(0, 256, (44, 60, 3), dtype=np.uint8)  # fully convolutional: any size
    for direction, state in (("a2b", g_a), ("b2a", g_b)):
        served = _translated(importer, "horse2zebra-junyanz", pixels, direction)
        expected = _expected(lambda x, state=state: resnet_reference(state, x, 6, "instance"), pixels)
        assert served.shape == (44, 60, 3) and np.abs(served - expected).max() <= 1, direction


def test_junyanz_refusals_name_the_tensors(importer, tmp_path):
    state = resnet_state(9, ngf=4, channels_in=3, channels_out=3, norm="batch")
    del state["model.12.conv_block.2.running_var"]
    torch.save(state, tmp_path / "latest_net_G.pth")
    answer = import_checkpoint(importer, "junyanz-bad", {"file": tmp_path / "latest_net_G.pth"}, "junyanz")
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert "missing tensors: model.12.conv_block.2.running_var" in answer.json()["detail"], answer.text
    answer = import_checkpoint(importer, "junyanz-bad", {"file": tmp_path / "latest_net_G.pth"}, "junyanz",
                               {"norm": "group"})
    assert answer.status_code == 422 and "norm='group'" in answer.json()["detail"], answer.text
    assert importer.get("/models/junyanz-bad").status_code == 404


# --- realesrgan and basicsr: super-resolution checkpoints --------------------------------------

def _upscaled(client: httpx.Client, model: str, pixels: np.ndarray, **fields) -> np.ndarray:
    """/upscale at the network's own factor, as uint8 H x W x C."""
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, format="PNG")
    answer = client.post("/upscale", files={"image": ("in.png", png.getvalue(), "image/png")},
                         data={"model": model, "format": "png", **{k: str(v) for k, v in fields.items()}},
                         headers={"Accept": "image/png", "Prefer": "wait=60"})
    assert answer.status_code == 200, answer.text
    return np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB")).astype(int)


def _expected_upscale(forward, pixels: np.ndarray) -> np.ndarray:
    """The reference network on the picture in [0, 1], clipped and rounded back to uint8 H x W x C."""
    unit = torch.from_numpy(pixels.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    with torch.no_grad():
        out = forward(unit).clamp(0, 1)[0].numpy().transpose(1, 2, 0)
    return np.rint(out * 255).astype(int)


@pytest.mark.parametrize("variant", ["rrdbnet-x2", "srvgg-x4"])
def test_realesrgan_upscales_like_the_reference(importer, tmp_path, variant):
    """x2plus's RRDBNet (pixel-unshuffled input; an odd-sided picture, reflect-padded as Real-ESRGAN's
    inference pads it) saved under params_ema, and the compact SRVGG net as safetensors."""
    from sr_references import realesrganer, rrdbnet_state, srvgg_forward, srvgg_state

    if variant == "rrdbnet-x2":
        scale, state = 2, rrdbnet_state(scale=2, blocks=1, seed=8)
        path = tmp_path / "RealESRGAN_x2plus.pth"
        torch.save({"params_ema": state}, path)
        architecture, forward = "rrdbnet", lambda x: realesrganer(state, x, 2)
    else:
        scale, state = 4, srvgg_state(convs=3, seed=9)
        path = tmp_path / "realesr-general-x4v3.safetensors"
        save_file(state, path)
        architecture, forward = "srvggnet_compact", lambda x: srvgg_forward(state, x, 4)
    name = f"realesrgan-{variant}"
    manifest = imported_manifest(importer, name, {"file": path}, "realesrgan")
    assert (manifest["task"], manifest["architecture"]) == ("upscale", architecture)
    assert manifest["signature"]["scale"] == scale and manifest["parity_max_abs_diff"] <= 1e-4
    assert manifest["provenance"]["imported_from"]["format"] == "realesrgan"

    pixels = np.random.default_rng(6).integers(0, 256, (23, 17, 3), dtype=np.uint8)
    served = _upscaled(importer, name, pixels)
    assert served.shape == (23 * scale, 17 * scale, 3)
    assert np.abs(served - _expected_upscale(forward, pixels)).max() <= 1


def test_basicsr_msrresnet_upscales_like_the_reference_and_refusals_name_tensors(importer, tmp_path):
    from sr_references import msrresnet_forward, msrresnet_state

    state = msrresnet_state(blocks=2, seed=10)
    torch.save({"params": state}, tmp_path / "MSRResNet_x4.pth")  # as BasicSR's save_network does
    manifest = imported_manifest(importer, "basicsr-msrresnet", {"file": tmp_path / "MSRResNet_x4.pth"}, "basicsr")
    assert (manifest["architecture"], manifest["signature"]["scale"]) == ("msrresnet", 4)
    pixels = np.random.default_rng(7).integers(0, 256, (72, 70, 3), dtype=np.uint8)
    served = _upscaled(importer, "basicsr-msrresnet", pixels, tile=32, tile_overlap=12)  # 3 x 3 tiles
    expected = _expected_upscale(lambda x: msrresnet_forward(state, x, 4), pixels)
    assert served.shape == (288, 280, 3) and np.abs(served - expected).max() <= 1

    del state["body.1.conv1.weight"]
    torch.save({"params": state}, tmp_path / "broken.pth")
    answer = import_checkpoint(importer, "basicsr-bad", {"file": tmp_path / "broken.pth"}, "basicsr")
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert "missing tensors: body.1.conv1.weight" in answer.json()["detail"], answer.text
    assert importer.get("/models/basicsr-bad").status_code == 404


def test_realesrgan_general_x4v3_with_its_wdn_twin_blends_over_http(importer, tmp_path):
    """The two files of Real-ESRGAN's denoise_strength, wdn sent first as `file`, x4v3 as `file_b`:
    the format tells them by name and serves the blend."""
    from sr_references import srvgg_forward, srvgg_state

    general, weak = srvgg_state(convs=2, seed=11), srvgg_state(convs=2, seed=12)
    torch.save({"params": general}, tmp_path / "realesr-general-x4v3.pth")
    torch.save({"params": weak}, tmp_path / "realesr-general-wdn-x4v3.pth")
    files = {"file": tmp_path / "realesr-general-wdn-x4v3.pth", "file_b": tmp_path / "realesr-general-x4v3.pth"}
    manifest = imported_manifest(importer, "realesrgan-general-dni", files, "realesrgan", {"denoise_strength": 0.25})
    assert any("denoise_strength 0.25" in note for note in manifest["provenance"]["imported_from"]["notes"])
    blended = {k: 0.25 * general[k] + 0.75 * weak[k] for k in general}
    pixels = np.random.default_rng(8).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    served = _upscaled(importer, "realesrgan-general-dni", pixels)
    assert np.abs(served - _expected_upscale(lambda x: srvgg_forward(blended, x, 4), pixels)).max() <= 1


# --- stylegan2-pytorch: the port's g_ema, served with truncation, mixing and noise like the bundled style model ---

def test_stylegan2_pytorch_g_ema_serves_seeds_truncation_and_noise_like_the_port(importer, tmp_path):
    from stylegan2_port_reference import port_state, reference_images

    state = port_state(size=16, style_dim=16, n_mlp=2, widths=(8, 8, 6), seed=4)
    latent_avg = torch.randn(16, generator=torch.Generator().manual_seed(9))
    torch.save({"g_ema": state, "latent_avg": latent_avg}, tmp_path / "stylegan2-ffhq.pt")  # as convert_weight.py
    manifest = imported_manifest(importer, "port-stylegan2", {"file": tmp_path / "stylegan2-ffhq.pt"},
                                 "stylegan2-pytorch")
    assert (manifest["task"], manifest["architecture"]) == ("generate", "stylegan2_port_generator")
    style = manifest["signature"]["style"]
    assert manifest["signature"]["image_size"] == 16 and style["num_ws"] == 6 and manifest["parity_max_abs_diff"] <= 1e-4
    assert np.allclose(style["w_avg"], latent_avg.numpy(), atol=1e-6)

    def served(**body) -> np.ndarray:
        picture = importer.post("/generate", json={"model": "port-stylegan2", "n": 1, **body},
                                headers={"Accept": "image/png", "Prefer": "wait=60"})
        assert picture.status_code == 200, picture.text
        return np.asarray(Image.open(io.BytesIO(picture.content)).convert("RGB")).astype(int)

    def expected(seed: int, **reference) -> np.ndarray:
        z = torch.from_numpy(sample_latents(seed, 1, 16))
        with torch.no_grad():
            images = reference_images(state, z, w_avg=latent_avg, **reference).numpy()
        return signed_to_uint8(images)[0].transpose(1, 2, 0).astype(int)

    assert np.abs(served(seed=11) - expected(11)).max() <= 1
    assert np.abs(served(seed=11, truncation_psi=0.7) - expected(11, psi=0.7)).max() <= 1
    # noise_mode random draws the maps from the seed, flattened in layer order: the port's noises, in its order
    sizes = [4, 8, 8, 16, 16]
    flat = torch.from_numpy(np.random.default_rng([11, 2]).standard_normal((1, sum(s * s for s in sizes)),
                                                                          dtype=np.float32))
    maps = [part.reshape(1, 1, s, s) for part, s in zip(flat.split([s * s for s in sizes], dim=1), sizes)]
    assert np.abs(served(seed=11, noise_mode="random") - expected(11, noise=maps)).max() <= 1
    # style mixing from the first layer is the second seed's picture
    assert np.abs(served(seed=11, style_mixing={"seed": 12, "crossover": 0}) - expected(12)).max() <= 1
