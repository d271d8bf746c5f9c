"""The Python SDK against a real stack: images in one call, training followed over SSE to the
registered model, dataset folders zipped and uploaded, models uploaded and served, jobs listed,
problem+json turned into exceptions, retries that honour Retry-After, and the async client."""

import asyncio
import io
import json
import time

import ganforge
import numpy as np
import pytest
from archives import png
from conftest import make_stack
from ganforge.progress import JobProgress
from PIL import Image

pytestmark = pytest.mark.integration

TINY = {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}


@pytest.fixture
def gf(stack):
    with ganforge.Client(stack.api_url, stack.admin_key, progress=False) as client:
        yield client


def test_generate_one_image_is_one_call_answered_with_the_picture(gf, stack):
    (digit,) = gf.generate("mnist-cdcgan", seed=7, labels=3)
    assert isinstance(digit, Image.Image) and digit.size == (28, 28)
    job = gf.jobs.get(digit.info["job_id"])
    assert job.status == ganforge.JobStatus.succeeded and job.params["labels"] == [3]
    (stored,) = gf.jobs.outputs(job)
    assert Image.open(io.BytesIO(stored)).tobytes() == digit.tobytes()


def test_generate_many_images_come_inline_and_match_the_outputs(gf):
    images = gf.generate("mnist-cdcgan", 5, seed=21, labels=[0, 1, 2, 3, 4])
    assert len(images) == 5 and all(i.size == (28, 28) for i in images)
    job = gf.jobs.get(images[0].info["job_id"])
    assert [Image.open(io.BytesIO(b)).tobytes() for b in gf.jobs.outputs(job)] == [i.tobytes() for i in images]
    (grid,) = gf.generate("mnist-cdcgan", 4, seed=21, grid=True)
    assert grid.size == (2 * 28 + 3 * 2, 2 * 28 + 3 * 2)


def test_translate_and_upscale_take_a_pil_image(gf):
    small = Image.new("RGB", (20, 16), (200, 30, 30))
    big = gf.upscale(small, "sr-x4")
    assert big.size == (80, 64)
    translated = gf.translate(Image.new("L", (32, 32), 0), "edges2digits-pix2pix", format="jpeg")
    assert translated.format == "JPEG" and translated.size == (32, 32)


def test_train_follows_the_event_stream_and_answers_the_registered_model(gf):
    watcher_events = []
    original = JobProgress.on_event
    JobProgress.on_event = lambda self, event: (watcher_events.append(event.event), original(self, event))[1]
    try:
        manifest = gf.train("cdcgan", "digits", "sdk-digits", steps=30, image_size=8, seed=1, hyperparameters=TINY,
                            checkpoint_every=0, sample_every=10, progress=True, timeout=300)
    finally:
        JobProgress.on_event = original
    assert isinstance(manifest, ganforge.Manifest)
    assert manifest.name == "sdk-digits" and manifest.task == "generate"
    assert manifest.signature["image_size"] == 8 and manifest.provenance["dataset"] == "digits"
    assert "progress" in watcher_events and watcher_events[-1] == "end"
    (image,) = gf.generate(manifest.ref, seed=1, labels=5)
    assert image.size == (8, 8)
    assert gf.models.get("sdk-digits").aliases["latest"] == manifest.version


def test_a_dataset_folder_is_zipped_uploaded_and_its_layout_guessed(gf, tmp_path):
    for label, shade in (("cats", 30), ("dogs", 220)):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "pets" / label / f"{i}.png").write_bytes(png(color=(shade + i,) * 3))
    (tmp_path / "pets" / ".DS_Store").write_bytes(b"junk")
    dataset = gf.datasets.upload(tmp_path / "pets", name="pets")
    assert dataset.layout == "classes" and dataset.num_images == 6
    assert sorted(c.name for c in dataset.classes) == ["cats", "dogs"]
    assert gf.datasets.get(dataset.id).name == "pets"


def test_an_onnx_model_is_uploaded_and_served(gf):
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.full((8, 36), 0.02, np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, 1, 6, 6], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w"], ["flat"]), helper.make_node("Reshape", ["flat", "shape"], ["square"]),
         helper.make_node("Tanh", ["square"], ["images"])],
        "sdk-tiny", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 1, 6, 6])], [weights, shape],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    manifest = gf.models.upload("sdk-uploaded", data, {"task": "generate", "signature": {
        "kind": "generator", "latent_dim": 8, "num_classes": 0, "image_size": 6, "channels": 1,
        "inputs": ["z"], "output": "images"}})
    assert manifest.name == "sdk-uploaded" and manifest.version >= 1
    assert gf.models.download("sdk-uploaded", manifest.version) == data
    images = gf.generate("sdk-uploaded", 2, seed=3)
    assert [i.size for i in images] == [(6, 6), (6, 6)]
    with pytest.raises(ganforge.ValidationFailed) as refused:
        gf.models.upload("sdk-uploaded", data, {"task": "generate", "signature": {
            "kind": "generator", "latent_dim": 9, "num_classes": 0, "image_size": 6, "channels": 1,
            "inputs": ["z"], "output": "images"}})
    assert refused.value.status == 422 and refused.value.errors


def test_jobs_list_get_cancel_and_wait(gf):
    job = gf.train("cdcgan", "digits", "sdk-canceled", steps=100_000, image_size=8, hyperparameters=TINY,
                   follow=False)
    assert job.status in (ganforge.JobStatus.queued, ganforge.JobStatus.running)
    listed = gf.jobs.list(kind="train", limit=100)
    assert job.id in [j.id for j in listed.jobs]
    assert all(j.kind == "train" for j in listed.jobs)
    gf.jobs.cancel(job.id)
    ended = gf.jobs.wait(job.id, timeout=60)
    assert ended.status == ganforge.JobStatus.canceled
    assert job.id in [j.id for j in gf.jobs.iter(status="canceled", page_size=1)]
    slow = gf.train("cdcgan", "digits", "sdk-slow", steps=100_000, image_size=8, hyperparameters=TINY, follow=False)
    with pytest.raises(ganforge.WaitTimeout) as timed_out:  # a wait that runs out says so, with the job as it stood
        gf.jobs.wait(slow.id, timeout=0.5)
    assert timed_out.value.job.id == slow.id and not timed_out.value.job.is_terminal
    gf.jobs.cancel(slow.id)


def test_api_errors_are_exceptions_with_the_problem_fields(gf, stack):
    with pytest.raises(ganforge.NotFound) as missing:
        gf.generate("no-such-model", seed=1)
    assert missing.value.status == 404 and missing.value.code == "unknown-model"
    assert "no-such-model" in missing.value.detail and missing.value.instance == "/generate"
    with pytest.raises(ganforge.ValidationFailed) as invalid:
        gf.generate("mnist-cdcgan", 0)
    assert invalid.value.errors[0]["field"] == "n"
    with ganforge.Client(stack.api_url, "gfk_not-a-key", progress=False) as stranger:
        with pytest.raises(ganforge.Unauthorized) as refused:
            stranger.models.list()
    assert refused.value.status == 401


def test_url_and_key_come_from_the_environment(stack, monkeypatch):
    monkeypatch.setenv("GANFORGE_URL", stack.api_url)
    monkeypatch.setenv("GANFORGE_API_KEY", stack.admin_key)
    with ganforge.Client(progress=False) as client:
        assert "mnist-cdcgan" in [m.name for m in client.models.list()]
        assert client.models.get("mnist-cdcgan", 1).ref == "mnist-cdcgan:1"


def test_every_create_carries_its_own_idempotency_key(gf):
    first = gf.train("cdcgan", "digits", "sdk-idem", steps=5, image_size=8, hyperparameters=TINY, follow=False,
                     idempotency_key="sdk-train-once")
    again = gf.train("cdcgan", "digits", "sdk-idem", steps=5, image_size=8, hyperparameters=TINY, follow=False,
                     idempotency_key="sdk-train-once")
    assert again.id == first.id
    # without an explicit key each call gets a fresh one, so two calls are two jobs
    one, two = (gf.generate("mnist-cdcgan")[0].info["job_id"] for _ in range(2))
    assert one != two
    gf.jobs.wait(first.id, timeout=120)


def test_the_async_client_does_the_same(stack):
    async def run():
        async with ganforge.AsyncClient(stack.api_url, stack.admin_key, progress=False) as client:
            images = await client.generate("mnist-cdcgan", 3, seed=4)
            listed = [job async for job in client.jobs.iter(kind="generate", page_size=2)]
            models = await client.models.list()
            return images, listed, models

    images, listed, models = asyncio.run(run())
    assert len(images) == 3 and images[0].info["job_id"] in [j.id for j in listed]
    assert "mnist-cdcgan" in [m.name for m in models]


def test_429_is_retried_after_retry_after_then_raised(tmp_path_factory):
    """A queue bound of 0 refuses every job with 429 and Retry-After: 2 (no worker is needed)."""
    with make_stack(tmp_path_factory, "full", GANFORGE_MAX_QUEUE_DEPTH="0") as stack:
        stack.start_api()
        retry = ganforge.RetryPolicy(max_retries=1)
        with ganforge.Client(stack.api_url, stack.admin_key, retry=retry, progress=False) as client:
            started = time.monotonic()
            with pytest.raises(ganforge.RateLimited) as refused:
                client.generate("mnist-cdcgan", 2)
            waited = time.monotonic() - started
    assert refused.value.status == 429 and refused.value.retry_after == 2
    assert waited >= 2.0  # it waited as told before the one retry


def test_progress_bar_shows_step_losses_rate_and_eta():
    from ganforge._sse import Event
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    with JobProgress("train demo", console=console) as bar:
        bar.on_event(Event("status", {"status": "running"}))
        bar.on_event(Event("progress", {"progress": {"step": 50, "total": 200, "losses": {"d": 1.25, "g": 0.5},
                                                     "images_per_sec": 410.0, "eta_s": 125}}))
    text = console.file.getvalue()
    for shown in ("50/200", "d=1.250", "g=0.500", "410 img/s", "02:05"):
        assert shown in text
    assert json.loads(json.dumps(bar.last))["step"] == 50


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_generate_takes_the_style_controls_by_the_api_names(gf):
    """Issue 27, item 4: `gf.generate("fashion-stylegan2", truncation_psi=0.5)` was a TypeError."""
    (a,), (b,) = (gf.generate("fashion-stylegan2", seed=s, truncation_psi=0.0) for s in (1, 2))
    assert abs(_pixels(a) - _pixels(b)).max() <= 1  # psi 0: the average image for every seed
    (mixed,) = gf.generate("fashion-stylegan2", seed=1, style_mixing=ganforge.StyleMixing(seed=2, crossover=0))
    (second,) = gf.generate("fashion-stylegan2", seed=2, noise_mode="const")
    assert abs(_pixels(mixed) - _pixels(second)).max() <= 1  # mixed from layer 0: the second seed's image
    walk = gf.generate("fashion-stylegan2", seed=1, interpolate={"to_seed": 2, "frames": 3}, quality=80)
    assert len(walk) == 4 and getattr(walk[-1], "n_frames", 1) == 3  # the frames, then the animation
    assert gf.jobs.get(walk[0].info["job_id"]).params["interpolate"]["frames"] == 3
    (zero,), (three,) = (gf.generate("mnist-infogan", seed=5, codes={"category": c}) for c in (0, 3))
    assert zero.tobytes() != three.tobytes()
    with pytest.raises(ganforge.ValidationFailed) as refused:
        gf.generate("mnist-cdcgan", seed=1, truncation_psi=0.5)
    assert refused.value.errors[0]["field"] == "truncation_psi"
