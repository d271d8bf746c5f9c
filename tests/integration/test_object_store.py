"""Hosts that share only Redis and a bucket: the API and the worker each have an empty state
folder of their own (no shared artifacts dir) and GANFORGE_ARTIFACTS_URL naming a bucket on a
real S3 server (moto's, a process of its own). The bundled zoo is seeded into the bucket, the
worker serves /generate from its sha256 cache, and a version another host publishes into the
bucket is served at once."""

import io
import json

import pytest
from PIL import Image

from models.artifacts import open_object_store
from models.artifacts.cache import ModelFileCache
from models.artifacts.model_store import ObjectModelStore
from models.store import ModelStore
from service.core.settings import REPO_ROOT
from service.local.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket_stack(tmp_path_factory, s3_bucket):
    """API and inference worker on one bucket, each with its own empty state folder (the AWS
    variables naming the S3 server come from the s3_bucket fixture, through the environment)."""
    root = tmp_path_factory.mktemp("bucket-stack")
    url = f"{s3_bucket}/deploy"
    stack = LocalStack(root / "stack", {
        "GANFORGE_WORKER_HEARTBEAT_S": "1",
        "GANFORGE_ARTIFACTS_URL": url,
        "GANFORGE_STATE_DIR": str(root / "api-host"),
    })
    with stack:
        stack.start_redis()
        # the inference host; a test that trains starts training hosts of its own
        stack.start_worker("inference,inference-heavy", env={"GANFORGE_STATE_DIR": str(root / "worker-host")})
        stack.start_api()
        stack.bucket_url, stack.hosts = url, root
        yield stack


def generate(client, body: dict) -> dict:
    answer = client.post("/generate", json=body, headers={"Prefer": "wait=60"})
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded", job
    return job


def pictures(client, job: dict) -> list[bytes]:
    return [client.get(output["url"]).content for output in job["outputs"]]


def test_a_bundled_model_is_seeded_into_the_bucket_and_served(bucket_stack, s3_server):
    bucket, _, prefix = bucket_stack.bucket_url.removeprefix("s3://").partition("/")
    keys = {item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert {f"{prefix}/models/mnist-cdcgan/1/manifest.json", f"{prefix}/models/mnist-cdcgan/1/model.onnx",
            f"{prefix}/models/mnist-cdcgan/aliases.json"} <= keys

    with bucket_stack.client() as client:
        job = generate(client, {"model": "mnist-cdcgan", "n": 4, "seed": 7, "labels": [3]})
        assert job["model"] == {"name": "mnist-cdcgan", "version": 1}
        for data in pictures(client, job):
            assert Image.open(io.BytesIO(data)).size == (28, 28)
        listed = client.get("/models").json()
        assert "mnist-cdcgan" in json.dumps(listed)

    hosts = bucket_stack.hosts
    sha256 = ModelStore(REPO_ROOT / "models" / "zoo").resolve("mnist-cdcgan:1").onnx_sha256
    assert (hosts / "worker-host" / "model-cache" / sha256 / "model.onnx").is_file()  # the worker's own copy
    for host in ("api-host", "worker-host"):  # and no host keeps a models folder of its own
        assert not (hosts / host / "artifacts" / "models").exists()


def test_a_version_published_into_the_bucket_elsewhere_is_served(bucket_stack, tmp_path):
    """Another host (this test process) registers a version in the bucket, manifest last; the API
    and the worker, which never saw its files, serve it, and it generates what the same network
    does under its bundled name."""
    registry = ObjectModelStore(open_object_store(f"{bucket_stack.bucket_url}/models"),
                                ModelFileCache(tmp_path / "cache", 1 << 30))
    zoo = ModelStore(REPO_ROOT / "models" / "zoo")
    bundled = zoo.resolve("fashion-dcgan")
    published = registry.register(
        "bucket-fashion", zoo.onnx_path(bundled), task=bundled.task, architecture=bundled.architecture,
        config=bundled.config, signature=bundled.signature, provenance=bundled.provenance,
        parity_max_abs_diff=bundled.parity_max_abs_diff,
    )
    assert published.version == 1 and published.onnx_sha256 == bundled.onnx_sha256

    with bucket_stack.client() as client:
        mine = generate(client, {"model": "bucket-fashion", "n": 3, "seed": 11})
        assert mine["model"] == {"name": "bucket-fashion", "version": 1}
        original = generate(client, {"model": "fashion-dcgan", "n": 3, "seed": 11})
        assert pictures(client, mine) == pictures(client, original)
        assert client.get("/models/bucket-fashion").status_code == 200


def tiny_generator_onnx() -> bytes:
    """z (n, 16) -> MatMul -> Reshape -> Tanh: an 8x8 gray generator, built by hand."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.linspace(-1, 1, 16 * 64, dtype=np.float32).reshape(16, 64), "w")
    shape = numpy_helper.from_array(np.array([-1, 1, 8, 8], np.int64), "shape")
    nodes = [helper.make_node("MatMul", ["z", "w"], ["flat"]), helper.make_node("Reshape", ["flat", "shape"], ["sq"]),
             helper.make_node("Tanh", ["sq"], ["images"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 16])],
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 1, 8, 8])],
                              [weights, shape])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_an_onnx_upload_crosses_hosts_through_the_bucket(bucket_stack, s3_server):
    """The API stages the upload in the bucket (it shares no folder with the worker), the worker
    pulls, checks and publishes it, and the staged objects are gone afterwards."""
    data = tiny_generator_onnx()
    manifest = {"task": "generate", "signature": {"kind": "generator", "latent_dim": 16, "num_classes": 0,
                                                   "image_size": 8, "channels": 1, "inputs": ["z"],
                                                   "output": "images"}}
    with bucket_stack.client() as client:
        created = client.post("/models/bucket-tiny/versions", files={"file": ("model.onnx", data)},
                              data={"manifest": json.dumps(manifest)}, headers={"Prefer": "wait=60"})
        assert created.status_code == 201, created.text
        job = generate(client, {"model": "bucket-tiny", "n": 2, "seed": 3})
        assert [Image.open(io.BytesIO(p)).size for p in pictures(client, job)] == [(8, 8), (8, 8)]
        downloaded = client.get("/models/bucket-tiny/versions/1/model.onnx")  # from the API host's own cache
        assert downloaded.status_code == 200 and downloaded.content == data

    bucket, _, prefix = bucket_stack.bucket_url.removeprefix("s3://").partition("/")
    keys = {item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"{prefix}/models/bucket-tiny/1/manifest.json" in keys
    assert not [key for key in keys if key.startswith(f"{prefix}/uploads/")]


def test_an_upload_refused_after_staging_leaves_nothing_in_the_bucket(tmp_path, s3_bucket, s3_server):
    """The API copies an upload to the bucket before it queues the job; when queuing is then
    refused (here a full queue: no worker, a bound of one), the copy goes with the answer."""
    url = f"{s3_bucket}/deploy"
    stack = LocalStack(tmp_path / "stack", {"GANFORGE_ARTIFACTS_URL": url, "GANFORGE_STATE_DIR": str(tmp_path / "api"),
                                            "GANFORGE_MAX_QUEUE_DEPTH": "1"})
    manifest = {"task": "generate", "signature": {"kind": "generator", "latent_dim": 16, "num_classes": 0,
                                                   "image_size": 8, "channels": 1, "inputs": ["z"],
                                                   "output": "images"}}

    def upload(client, name: str):
        return client.post(f"/models/{name}/versions", files={"file": ("model.onnx", tiny_generator_onnx())},
                           data={"manifest": json.dumps(manifest)}, headers={"Prefer": "wait=0"})

    with stack:
        stack.start_redis()
        stack.start_api()
        with stack.client() as client:
            queued = upload(client, "staged-first")
            assert queued.status_code == 202, queued.text  # no worker: it waits in the queue
            refused = upload(client, "staged-second")
            assert refused.status_code == 429 and refused.headers["content-type"] == "application/problem+json"
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    staged = {item["Key"].split("/")[3] for item in s3_server.client().list_objects_v2(
        Bucket=bucket, Prefix=f"{prefix}/uploads/models/").get("Contents", [])}
    assert staged == {queued.json()["params"]["upload"]}, staged


def test_a_training_resumes_on_a_fresh_host_from_the_checkpoints_in_the_bucket(bucket_stack, s3_server):
    """A dataset uploaded to the API host is trained on training host A (its own folder), which
    is SIGKILLed mid-run; host B, with a new empty folder, takes the redelivered job, pulls the
    dataset and the newest checkpoint from the bucket and finishes; the version it registers is
    in the bucket and served by the inference host."""
    import os
    import signal
    import time

    from archives import classes_files, zip_bytes
    from conftest import wait_for_status

    hosts = bucket_stack.hosts
    first = bucket_stack.start_worker(queues="training", concurrency=1, name="training-a",
                                      env={"GANFORGE_STATE_DIR": str(hosts / "training-a"), "GANFORGE_LEASE_TTL_S": "3"})
    body = {"architecture": "cdcgan", "dataset": None, "model_name": "bucket-trained", "image_size": 8,
            "steps": 200, "seed": 1, "checkpoint_every": 25, "sample_every": 0,
            "hyperparameters": {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}}
    bucket, _, prefix = bucket_stack.bucket_url.removeprefix("s3://").partition("/")
    s3 = s3_server.client()
    with bucket_stack.client() as client:
        uploaded = client.post("/datasets", files={"file": ("pets.zip", zip_bytes(classes_files()))},
                               data={"layout": "classes", "name": "pets"})
        assert uploaded.status_code == 201, uploaded.text
        body["dataset"] = uploaded.json()["id"]
        assert f"{prefix}/datasets/{body['dataset']}/dataset.json" in {
            item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/datasets/")["Contents"]}
        job = client.post("/train", json=body).json()
        checkpoints = f"{prefix}/checkpoints/{job['id']}/"
        deadline = time.monotonic() + 120
        while (client.get(f"/jobs/{job['id']}").json().get("progress") or {}).get("step", 0) < 60:
            assert time.monotonic() < deadline, "training made no progress"
            time.sleep(0.1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        saved = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=checkpoints).get("Contents", [])]
        newest = max(int(key.rsplit("step-", 1)[1].split(".")[0]) for key in saved if key.endswith(".json"))
        assert newest >= 50

        bucket_stack.start_worker(queues="training", concurrency=1, name="training-b",
                                  env={"GANFORGE_STATE_DIR": str(hosts / "training-b"), "GANFORGE_LEASE_TTL_S": "3"})
        finished = wait_for_status(client, job["id"], {"succeeded", "failed"}, timeout_s=300)
        assert finished["status"] == "succeeded", finished
        assert finished["metrics"]["resumed_from_step"] == newest and finished["metrics"]["steps"] == 200
        version = finished["model"]["version"]
        served = generate(client, {"model": f"bucket-trained:{version}", "n": 2, "seed": 1, "labels": [1]})
        assert served["model"] == {"name": "bucket-trained", "version": version}
    assert not (hosts / "training-b" / "artifacts" / "models").exists()
    assert (hosts / "training-b" / "artifacts" / "datasets" / body["dataset"] / "dataset.json").is_file()  # pulled
    assert not (hosts / "api-host" / "artifacts" / "checkpoints").exists()
    final = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=checkpoints)["Contents"]]
    assert f"{checkpoints}step-00000200.json" in final  # the last save went up too
