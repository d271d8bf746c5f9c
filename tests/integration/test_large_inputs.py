"""Large inputs leave Redis (issue 24, item 3): an /upscale image above GANFORGE_LARGE_OUTPUT_BYTES
is put into the artifact store (outputs/<sha256>, beside the large outputs) before its job is
recorded, with its expiry in the stored-outputs set; the worker reads it from there, a missing one
fails the job `input_expired`, and the sweep deletes it once its time has passed. Small inputs
stay blobs in Redis. Real Redis, worker, API and (for the bucket) moto's S3 server as a process."""

import hashlib
import io
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
from conftest import wait_for_status, wait_until
from PIL import Image

from models.inference.imaging import decode_image
from models.inference.sessions import open_session
from models.inference.upscale import onnx_runner, upscale_image
from models.store import ModelStore
from service.core import keys
from service.core.settings import REPO_ROOT

pytestmark = pytest.mark.integration

ZOO = ModelStore(REPO_ROOT / "models" / "zoo")
THRESHOLD = 10_000
ENV = {"GANFORGE_LARGE_OUTPUT_BYTES": str(THRESHOLD), "GANFORGE_LEASE_TTL_S": "6"}  # sweep every 2 s


def noisy_png(seed: int, side: int) -> bytes:
    """Noise does not compress: 64² is ~12 KB, over THRESHOLD; 40² is ~5 KB, under it."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reference_upscale(png: bytes, params: dict) -> np.ndarray:
    """What the worker computes, run here on a plain ONNX Runtime session."""
    manifest = ZOO.resolve("sr-x4")
    run = onnx_runner(open_session(ZOO.onnx_path(manifest)), manifest.signature)
    pixels, _ = upscale_image(run, decode_image(png, 1 << 24), manifest.signature, tile=params["tile"],
                              overlap=params["tile_overlap"])
    return pixels


def submit(client: httpx.Client, png: bytes) -> httpx.Response:
    return client.post("/upscale", files={"image": ("in.png", png, "image/png")}, data={"model": "sr-x4"})


@dataclass
class Objects:
    """The store's `outputs/` objects as the test sees them, from outside the service."""

    read: Callable[[str], bytes | None]
    delete: Callable[[str], None]


def local_objects(stack) -> Objects:
    folder = stack.state_dir / "artifacts" / "outputs"

    def read(sha256: str) -> bytes | None:
        path = folder / sha256
        return path.read_bytes() if path.exists() else None

    return Objects(read, lambda sha256: (folder / sha256).unlink())


def bucket_objects(stack, request) -> Objects:
    s3_bucket, s3_server = request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_server")
    stack.extra_env["GANFORGE_ARTIFACTS_URL"] = f"{s3_bucket}/deploy"
    bucket, s3 = s3_bucket.removeprefix("s3://"), s3_server.client()

    def read(sha256: str) -> bytes | None:
        try:
            return s3.get_object(Bucket=bucket, Key=f"deploy/outputs/{sha256}")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    return Objects(read, lambda sha256: s3.delete_object(Bucket=bucket, Key=f"deploy/outputs/{sha256}"))


def refused_while_the_folder_cannot_be_written(stack, client: httpx.Client) -> None:
    """The store cannot take the input: 503 artifacts-unavailable, and no job, blob or message written."""
    folder = stack.state_dir / "artifacts" / "outputs"
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.write_bytes(b"")  # a file where the folder should be: every put fails
    try:
        refused = submit(client, noisy_png(9, 64))
    finally:
        folder.unlink()
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/artifacts-unavailable")
    assert list(stack.redis.scan_iter(match=keys.JOB_PATTERN)) == []
    assert not stack.redis.exists(keys.blob(sha256_of(noisy_png(9, 64))))


@pytest.mark.parametrize("backend", ["local", "bucket"])
def test_a_large_input_lives_in_the_store_until_its_job_no_longer_needs_it(fresh_stack, backend, request):
    stack = fresh_stack
    stack.extra_env.update(ENV)
    objects = local_objects(stack) if backend == "local" else bucket_objects(stack, request)
    stack.start_api()  # no worker yet: the jobs wait in their queue, their inputs where the API put them
    with stack.client() as client:
        if backend == "local":
            refused_while_the_folder_cannot_be_written(stack, client)

        kept_png, lost_png, small_png = noisy_png(1, 64), noisy_png(2, 64), noisy_png(3, 40)
        assert len(kept_png) > THRESHOLD and len(lost_png) > THRESHOLD and len(small_png) < THRESHOLD
        kept, lost, small = (submit(client, png) for png in (kept_png, lost_png, small_png))
        for answer, png in ((kept, kept_png), (lost, lost_png)):
            assert answer.status_code == 202, answer.text
            sha256 = sha256_of(png)
            assert answer.json()["params"]["image_stored"] == "artifacts"
            assert not stack.redis.exists(keys.blob(sha256))  # its bytes are not in Redis
            assert objects.read(sha256) == png
            expires = stack.redis.zscore(keys.STORED_OUTPUTS, sha256)
            assert 3000 < expires - time.time() <= 3600  # as long as its blob would have lived
        assert small.status_code == 202, small.text
        assert "image_stored" not in small.json()["params"]
        assert stack.redis.exists(keys.blob(sha256_of(small_png)))  # a small input stays in Redis

        objects.delete(sha256_of(lost_png))  # gone before a worker took its job
        stack.start_worker("inference", concurrency=2)

        done = wait_for_status(client, kept.json()["id"], {"succeeded", "failed"}, timeout_s=120)
        assert done["status"] == "succeeded", done
        (output,) = done["outputs"]
        assert output["stored"] == "artifacts"  # 256² of noise: a large output too
        picture = np.asarray(Image.open(io.BytesIO(client.get(output["url"]).content)))
        expected = reference_upscale(kept_png, done["params"])
        assert picture.shape == expected.shape == (256, 256, 3)
        assert np.abs(picture.astype(np.int16) - expected).max() <= 1  # ONNX Runtime's threads may round apart

        failed = wait_for_status(client, lost.json()["id"], {"succeeded", "failed"}, timeout_s=120)
        assert failed["status"] == "failed" and failed["error"]["type"] == "input_expired", failed
        small_done = wait_for_status(client, small.json()["id"], {"succeeded", "failed"}, timeout_s=120)
        assert small_done["status"] == "succeeded", small_done

        # Its hour passes (pushed back in Redis rather than waited for): the sweep deletes the
        # input's object; the output's own expiry keeps that one.
        kept_sha256 = sha256_of(kept_png)
        stack.redis.zadd(keys.STORED_OUTPUTS, {kept_sha256: time.time() - 1})
        assert wait_until(lambda: objects.read(kept_sha256) is None), "the sweep left the input's object"
        assert stack.redis.zscore(keys.STORED_OUTPUTS, kept_sha256) is None
        assert objects.read(output["sha256"]) is not None


def test_large_oip_v2_input_tensors_live_in_the_store_too(fresh_stack):
    """An OIP v2 inference's input tensors over the threshold go to the store as an image does;
    the answer is ONNX Runtime's on the same tensors (tritonclient as the client)."""
    import tritonclient.http as triton

    stack = fresh_stack
    stack.extra_env.update(ENV)
    stack.start_worker("inference", concurrency=2)
    stack.start_api()
    image = np.random.default_rng(5).uniform(-1, 1, (1, 3, 40, 40)).astype(np.float32)  # 19,200 bytes
    client = triton.InferenceServerClient(url=stack.api_url.removeprefix("http://"), network_timeout=60)
    try:
        tensor = triton.InferInput("image", list(image.shape), "FP32")
        tensor.set_data_from_numpy(image, binary_data=True)
        result = client.infer("sr-x4", [tensor], headers=dict(stack.auth_headers))
    finally:
        client.close()
    manifest = ZOO.resolve("sr-x4")
    expected = open_session(ZOO.onnx_path(manifest)).run(None, {"image": image})[0]
    (name,) = [output["name"] for output in result.get_response()["outputs"] if output["datatype"] == "FP32"]
    np.testing.assert_allclose(result.as_numpy(name), expected, atol=1e-4)

    with stack.client() as api:
        job = api.get(f"/jobs/{result.get_response()['parameters']['job_id']}").json()
    sha256 = job["params"]["inputs_sha256"]
    assert job["params"]["inputs_stored"] == "artifacts"
    assert not stack.redis.exists(keys.blob(sha256))  # its bytes are not in Redis
    assert local_objects(stack).read(sha256) is not None
