"""Out of memory is a failed job, never a dead worker (issue 22, item 5).

There is no GPU to exhaust here, so the errors are injected where they arise: torch's
`torch.cuda.OutOfMemoryError` inside a training step (after a checkpoint was written), and ONNX
Runtime's own allocation-failure exception from an inference run that is too large. Everything
else is real: the training job's record in a real Redis, the DCGAN trainer, its checkpoints and
the resume with a smaller batch; a real ONNX Runtime session behind the batcher.
"""

from datetime import UTC, datetime

import numpy as np
import pytest
import torch
from onnxruntime.capi.onnxruntime_pybind11_state import RuntimeException

from models.inference.sessions import open_session
from service.core.jobs import Job, JobStatus
from service.core.settings import Settings
from service.local.redis_server import start_redis
from training.data.datasets import load_builtin
from training.recipes.outcome import TrainingFailed
from training.trainers.checkpoints import latest_checkpoint, read_meta
from training.trainers.dcgan import DCGANConfig, train_dcgan
from workers.batcher import DynamicBatcher, infer_within_memory
from workers.context import WorkerContext
from workers.job_runner import JobFailed
from workers.training import TrainingRun

pytestmark = pytest.mark.integration

HYPERPARAMETERS = {"latent_dim": 8, "base_features": 4, "batch_size": 32}


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    root = tmp_path_factory.mktemp("oom")
    server = start_redis(root / "redis")
    context = WorkerContext(Settings(redis_url=server.url, state_dir=root, device="cpu"))
    try:
        yield context
    finally:
        context.close()
        server.stop()


def training_job(context: WorkerContext, job_id: str) -> Job:
    job = Job(id=job_id, kind="train", status=JobStatus.running, created_at=datetime.now(UTC), params={
        "architecture": "dcgan", "dataset": "digits", "model_name": "oom", "image_size": 8, "seed": 0,
        "steps": 6, "checkpoint_every": 2, "sample_every": 0, "hyperparameters": HYPERPARAMETERS,
    })
    context.jobs.create(job)
    return job


def out_of_memory_at(step_that_fails: int):
    """A progress callback that raises CUDA's out-of-memory error once `step_that_fails` is reached."""
    def progress(step, total, losses, images_per_sec, **_):
        if step == step_that_fails:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    return progress


def test_a_training_that_runs_out_of_memory_fails_its_job_keeps_its_checkpoint_and_resumes_smaller(context):
    run = TrainingRun(context, training_job(context, "oom-train"))
    data = load_builtin("digits", image_size=8)
    config = DCGANConfig(**HYPERPARAMETERS, conditional=False, steps=6, checkpoint_every=2)

    def train(**callbacks):
        progress = callbacks.pop("progress_fn")
        failing = out_of_memory_at(3)
        return train_dcgan(config, data, progress_fn=lambda *a, **k: (progress(*a, **k), failing(*a, **k)),
                           **callbacks)

    with pytest.raises(TrainingFailed) as failed:
        run.fit(train, render=lambda nets: b"")
    assert failed.value.type == "out_of_memory"
    detail = failed.value.detail
    assert "cpu ran out of memory training dcgan at batch_size 32 and image_size 8" in detail
    assert '"resume_from": "oom-train"' in detail and '"batch_size": 16' in detail and "step 2" in detail
    kept = latest_checkpoint(run.checkpoints)
    assert kept is not None and read_meta(kept)["step"] == 2

    # The same process takes the next job: the run continues from step 2 with half the batch.
    smaller = config.model_copy(update={"batch_size": 16})
    result, resumed_from = run.fit(lambda **callbacks: train_dcgan(smaller, data, **callbacks), render=lambda nets: b"")
    assert resumed_from == 2 and result.step == 6 and not result.aborted
    assert all(np.isfinite(v) for v in result.losses.values())


def test_an_error_that_is_not_about_memory_is_not_called_out_of_memory(context):
    run = TrainingRun(context, training_job(context, "not-oom"))

    def train(**callbacks):
        raise RuntimeError("a shape mismatch, say")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run.fit(train, render=lambda nets: b"")


def onnx_generator(tmp_path):
    from models.architectures import build
    from models.export import export_generator
    from models.manifest import GeneratorSignature

    torch.manual_seed(0)
    generator = build("dcgan_generator", latent_dim=8, channels=1, image_size=8, base_features=4).eval()
    path = tmp_path / "g.onnx"
    export_generator(generator, GeneratorSignature(latent_dim=8, image_size=8, channels=1, inputs=["z"]), path)
    return open_session(path)


def allocating_at_most(session, rows: int):
    """ONNX Runtime's run, failing as its allocator does for a batch larger than `rows`."""
    sizes = []

    def infer(feeds):
        sizes.append(len(feeds["z"]))
        if len(feeds["z"]) > rows:
            raise RuntimeException("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned "
                                   "while running ConvTranspose node. Status Message: Failed to allocate memory "
                                   "for requested buffer of size 67108864")
        return session.run(None, feeds)[0]

    return infer, sizes


def test_a_batch_that_does_not_fit_is_split_and_gives_the_same_images(tmp_path):
    session = onnx_generator(tmp_path)
    z = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    whole = session.run(None, {"z": z})[0]
    infer, sizes = allocating_at_most(session, 3)
    images = infer_within_memory(infer, {"z": z})
    np.testing.assert_allclose(images, whole, atol=1e-6)
    assert sizes == [8, 4, 2, 2, 4, 2, 2]  # 8 and each 4 fail; the 2s fit


def test_only_an_item_that_does_not_fit_alone_fails_with_out_of_memory_and_the_batcher_lives_on(tmp_path):
    session = onnx_generator(tmp_path)
    infer, _ = allocating_at_most(session, 0)
    with pytest.raises(JobFailed) as failed:
        infer_within_memory(infer, {"z": np.zeros((1, 8), np.float32)})
    assert failed.value.type == "out_of_memory" and "Failed to allocate memory" in failed.value.detail

    limit = {"rows": 0}
    batcher = DynamicBatcher(lambda feeds: allocating_at_most(session, limit["rows"])[0](feeds),
                             max_batch_size=8, max_delay_ms=1, name="oom")
    with pytest.raises(JobFailed):
        batcher.run({"z": np.zeros((4, 8), np.float32)})
    limit["rows"] = 2
    images, _ = batcher.run({"z": np.zeros((4, 8), np.float32)})
    assert images.shape == (4, 1, 8, 8)


def test_other_inference_errors_are_not_retried(tmp_path):
    calls = []

    def infer(feeds):
        calls.append(1)
        raise RuntimeException("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: z")

    with pytest.raises(RuntimeException, match="INVALID_ARGUMENT"):
        infer_within_memory(infer, {"z": np.zeros((4, 8), np.float32)})
    assert len(calls) == 1
