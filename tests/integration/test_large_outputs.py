"""Large outputs leave Redis (issue 24, item 3): an output above GANFORGE_LARGE_OUTPUT_BYTES is
written to the artifact store under outputs/<sha256>, served from there by GET and by a one-call
answer (or by a 307 to a presigned URL with GANFORGE_OUTPUT_REDIRECT=1 on a bucket), and swept
from the store when it expires, after which GET answers 410 as for an expired Redis output.
Real Redis, worker, API and (for the bucket) moto's S3 server as a process of its own."""

import hashlib
import io
import time

import ganforge
import httpx
import numpy as np
import pytest
from conftest import wait_until
from PIL import Image

from models.inference.sessions import open_session
from models.store import ModelStore
from service.core import keys
from service.core.settings import REPO_ROOT

pytestmark = pytest.mark.integration

ZOO = ModelStore(REPO_ROOT / "models" / "zoo")
THRESHOLD = 10_000
ONE_CALL_TTL_S = 3  # a one-call answer's output expires this soon: the sweep is seen within the test
SMALL_ENV = {
    "GANFORGE_LARGE_OUTPUT_BYTES": str(THRESHOLD),
    "GANFORGE_ONE_CALL_TTL_S": str(ONE_CALL_TTL_S),
    "GANFORGE_LEASE_TTL_S": "6",  # the reaper (and its sweep) runs every 2 s
}


def onnx_reference(model: str, feeds: dict) -> np.ndarray:
    manifest = ZOO.resolve(model)
    return open_session(ZOO.onnx_path(manifest)).run(None, feeds)[0]


def noisy_png(seed: int, size=(40, 48)) -> bytes:
    """Noise upscales to a PNG well over THRESHOLD (x4: 160x192, ~90 KB)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def upscale(client: httpx.Client, seed: int, **headers: str) -> httpx.Response:
    return client.post("/upscale", files={"image": ("in.png", noisy_png(seed), "image/png")},
                       data={"model": "sr-x4"}, headers={"Prefer": "wait=120", **headers})


def start(stack) -> httpx.Client:
    stack.start_worker("inference", concurrency=2)
    stack.start_api()
    return stack.client()


def only_output(client: httpx.Client, job_id: str) -> dict:
    (output,) = client.get(f"/jobs/{job_id}").json()["outputs"]
    return output


def assert_expired(client: httpx.Client, output: dict) -> None:
    gone = client.get(output["url"], follow_redirects=False)
    assert gone.status_code == 410, gone.text
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["type"].endswith("/output-expired")


def test_local_store_serves_large_outputs_and_sweeps_them(fresh_stack):
    stack = fresh_stack
    stack.extra_env.update(SMALL_ENV)
    outputs_dir = stack.state_dir / "artifacts" / "outputs"
    with start(stack) as client:
        answer = upscale(client, seed=1)
        assert answer.status_code == 200, answer.text
        (output,) = answer.json()["outputs"]
        assert output["stored"] == "artifacts" and output["size"] > THRESHOLD
        assert not stack.redis.exists(keys.blob(output["sha256"]))  # no bytes in Redis
        stored = (outputs_dir / output["sha256"]).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == output["sha256"]
        served = client.get(output["url"])
        assert served.status_code == 200 and served.content == stored
        assert served.headers["content-type"] == "image/png" and served.headers["etag"] == f'"{output["sha256"]}"'
        expires = stack.redis.zscore(keys.STORED_OUTPUTS, output["sha256"])
        assert 3000 < expires - time.time() <= 3600  # the result cache's hour

        repeat = upscale(client, seed=1).json()  # the same request: a result-cache hit on the stored output
        assert repeat["cached"] is True and repeat["outputs"][0]["sha256"] == output["sha256"]
        assert client.get(repeat["outputs"][0]["url"]).content == stored

        small = client.post("/generate", json={"model": "mnist-cdcgan", "seed": 7}, headers={"Prefer": "wait=60"})
        (tiny,) = small.json()["outputs"]
        assert "stored" not in tiny and stack.redis.exists(keys.blob(tiny["sha256"]))  # small ones stay in Redis

        # OIP v2's answer is built from its job's output (the packed tensors): read from the store too.
        tensors = np.random.default_rng(0).random((1, 3, 16, 24), dtype=np.float32)
        infer = client.post("/v2/models/sr-x4/infer", json={"inputs": [
            {"name": "image", "shape": list(tensors.shape), "datatype": "FP32", "data": tensors.ravel().tolist()}],
            "outputs": [{"name": "upscaled"}]})
        assert infer.status_code == 200, infer.text
        (upscaled,) = infer.json()["outputs"]
        assert upscaled["shape"] == [1, 3, 64, 96]
        np.testing.assert_allclose(np.asarray(upscaled["data"], np.float32).reshape(1, 3, 64, 96),
                                   onnx_reference("sr-x4", {"image": tensors}), atol=1e-4)
        job_id = infer.json()["parameters"]["job_id"]
        assert only_output(client, job_id)["stored"] == "artifacts"  # 73,728 bytes of float32

        one_call = upscale(client, seed=2, Accept="image/png")
        assert one_call.status_code == 200, one_call.text
        assert one_call.headers["content-type"] == "image/png"
        kept = only_output(client, one_call.headers["GANForge-Job-Id"])
        assert kept["stored"] == "artifacts" and not stack.redis.exists(keys.blob(kept["sha256"]))
        assert one_call.content == (outputs_dir / kept["sha256"]).read_bytes()
        assert client.get(kept["url"]).content == one_call.content

        # Its one-call TTL passes: the sweep deletes the object, GET answers 410; the hour-long one stays.
        assert wait_until(lambda: not (outputs_dir / kept["sha256"]).exists()), "the sweep left the object"
        assert stack.redis.zscore(keys.STORED_OUTPUTS, kept["sha256"]) is None
        assert_expired(client, kept)
        assert (outputs_dir / output["sha256"]).exists()
        assert client.get(output["url"]).content == stored


def test_bucket_redirects_to_a_presigned_url_and_sweeps(fresh_stack, s3_bucket, s3_server):
    stack = fresh_stack
    stack.extra_env.update({**SMALL_ENV, "GANFORGE_ARTIFACTS_URL": f"{s3_bucket}/deploy",
                            "GANFORGE_OUTPUT_REDIRECT": "1"})
    bucket = s3_bucket.removeprefix("s3://")
    s3 = s3_server.client()

    def in_bucket(sha256: str) -> bytes | None:
        try:
            return s3.get_object(Bucket=bucket, Key=f"deploy/outputs/{sha256}")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None

    with start(stack) as client:
        answer = upscale(client, seed=3)
        assert answer.status_code == 200, answer.text
        (output,) = answer.json()["outputs"]
        assert output["stored"] == "artifacts" and not stack.redis.exists(keys.blob(output["sha256"]))
        stored = in_bucket(output["sha256"])
        assert stored is not None and hashlib.sha256(stored).hexdigest() == output["sha256"]

        redirect = client.get(output["url"], follow_redirects=False)
        assert redirect.status_code == 307, redirect.text
        location = redirect.headers["location"]
        assert location.startswith(s3_server.endpoint_url) and "Expires=" in location  # signed, time-limited
        assert httpx.get(location).content == stored  # no API key: the signature is the permission
        with ganforge.Client(stack.api_url, stack.admin_key, progress=False) as sdk:  # follows the redirect
            assert sdk.jobs.outputs(sdk.jobs.get(answer.json()["id"])) == [stored]

        one_call = upscale(client, seed=4, Accept="image/png")
        picture = httpx.get(one_call.headers["location"]) if one_call.status_code == 307 else one_call
        assert one_call.status_code in (200, 307), one_call.text
        job_id = one_call.headers["GANForge-Job-Id"]
        kept = only_output(client, job_id)
        assert picture.content == in_bucket(kept["sha256"]) and kept["stored"] == "artifacts"

        assert wait_until(lambda: in_bucket(kept["sha256"]) is None), "the sweep left the object"
        assert_expired(client, kept)
        assert in_bucket(output["sha256"]) == stored


def test_the_sweep_deletes_only_what_no_later_job_pushed_and_a_writer_waits_for_it(store, tmp_path):
    """The hand-over between sweep and writer (service/core/job_store/stored_outputs.py) on a real Redis."""
    from models.artifacts.local import LocalObjectStore
    from models.artifacts.outputs import OutputStore
    from service.core.job_store import stored_outputs
    from workers.reaper import sweep_stored_outputs

    objects = OutputStore(LocalObjectStore(tmp_path))
    now = time.time()
    for sha256 in ("old", "pushed", "fresh"):
        objects.put(sha256, sha256.encode())
    stored_outputs.reserve(store.redis, "old", now - 5)
    stored_outputs.reserve(store.redis, "pushed", now - 5)
    stored_outputs.reserve(store.redis, "pushed", now + 600)  # a later job wrote the same bytes
    pipe = store.redis.pipeline()
    stored_outputs.stage_expiry(pipe, "pushed", now - 1)  # an earlier job's end, landing late: never shortens
    stored_outputs.stage_expiry(pipe, "fresh", now + 600)
    pipe.execute()

    assert sweep_stored_outputs(store, objects) == ["old"]
    assert sorted(objects.objects.list()) == ["fresh", "pushed"]
    assert store.redis.zscore(keys.STORED_OUTPUTS, "pushed") == pytest.approx(now + 600)

    # Claimed, not yet deleted: a writer of the same bytes waits until the delete is done.
    stored_outputs.reserve(store.redis, "again", now - 5)
    assert stored_outputs.claim_expired(store.redis) == ["again"]
    with pytest.raises(TimeoutError):
        stored_outputs.reserve(store.redis, "again", now + 600, wait_s=0.3)
    stored_outputs.swept(store.redis, ["again"])
    stored_outputs.reserve(store.redis, "again", now + 600, wait_s=0.3)
    assert store.redis.zscore(keys.STORED_OUTPUTS, "again") == pytest.approx(now + 600)
