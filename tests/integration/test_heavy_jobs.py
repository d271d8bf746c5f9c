"""Heavy jobs never starve small ones: large upscales and translations wait in the
`inference-heavy` queue, which a worker of its own serves a few at a time (as `make run` and
docker-compose do), so a small /generate sent behind several of them finishes first."""

import io
import json
import time

import numpy as np
import pytest
from conftest import make_stack
from PIL import Image

from service.core import keys
from service.core.presence import live_workers
from service.core.routing import HEAVY_INFERENCE_QUEUE, INFERENCE_QUEUE

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-heavy-job-tests"
HEAVY_PIXELS = 1024 * 1024  # a lower bound than the default, so "large" stays quick on a small CPU


def png(side: int, channels: int = 3, seed: int = 0) -> bytes:
    shape = (side, side, channels) if channels > 1 else (side, side)
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


def queue_of(stack, job_id: str) -> str:
    return json.loads(stack.redis.get(keys.job_task(job_id)))["queue"]


def worker_of(stack, name: str) -> str:
    return next(w["id"] for w in live_workers(stack.redis) if w["pid"] == stack.children[name].pid)


def test_a_small_generate_finishes_before_large_upscales_queued_ahead_of_it(tmp_path_factory):
    with make_stack(tmp_path_factory, "heavy", GANFORGE_HEAVY_PIXELS=str(HEAVY_PIXELS),
                    GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker(f"{INFERENCE_QUEUE},training", 2, name="main")
        stack.start_worker(HEAVY_INFERENCE_QUEUE, 1, name="heavy")
        stack.start_api()
        with stack.client() as client:
            # Six upscales of 448x448 at x4 (3.2 Mpx each): more than the main worker has threads.
            heavy = []
            for seed in range(6):
                answer = client.post("/upscale", files={"image": ("x.png", png(448, seed=seed), "image/png")},
                                     data={"model": "sr-x4"})
                assert answer.status_code == 202, answer.text
                heavy.append(answer.json()["id"])
            # Read while they wait (a job forgets how it was queued when it ends): the first may be running.
            assert all(queue_of(stack, i) == HEAVY_INFERENCE_QUEUE for i in heavy)
            small_upscale = client.post("/upscale", files={"image": ("s.png", png(64), "image/png")},
                                        data={"model": "sr-x4"}).json()["id"]
            deadline = time.monotonic() + 60
            while client.get(f"/jobs/{heavy[0]}").json()["status"] == "queued":
                assert time.monotonic() < deadline, "the heavy worker never started a job"
                time.sleep(0.05)
            waiting = [i for i in heavy if client.get(f"/jobs/{i}").json()["status"] == "queued"]
            small = client.post("/generate", json={"model": "mnist-cdcgan", "n": 4}, headers={"Prefer": "wait=60"})
            assert small.status_code == 200 and small.json()["status"] == "succeeded", small.text
            small_done = small.json()["finished_at"]

            jobs = {}
            deadline = time.monotonic() + 300
            for job_id in [*heavy, small_upscale]:
                while (job := client.get(f"/jobs/{job_id}").json())["status"] in ("queued", "running"):
                    assert time.monotonic() < deadline, job
                    time.sleep(0.2)
                assert job["status"] == "succeeded", job["error"]
                jobs[job_id] = job

        assert len(waiting) >= 4, "the large upscales were not waiting behind each other"
        # The small job did not wait for any large one that was queued before it.
        assert all(small_done < jobs[i]["finished_at"] for i in waiting), (small_done, [jobs[i]["finished_at"] for i in waiting])
        heavy_worker, main_worker = worker_of(stack, "heavy"), worker_of(stack, "main")
        assert {jobs[i]["metrics"]["worker"] for i in heavy} == {heavy_worker}
        # A small image stays in the common line: the main worker (inference and training only) ran it.
        assert jobs[small_upscale]["metrics"]["worker"] == main_worker
        assert small.json()["metrics"]["worker"] == main_worker
        # One at a time on the heavy worker: each started after the one before it finished.
        spans = sorted((jobs[i]["started_at"], jobs[i]["finished_at"]) for i in heavy)
        assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))


def test_a_large_translation_goes_to_the_heavy_queue(tmp_path_factory):
    with make_stack(tmp_path_factory, "heavy-translate", GANFORGE_HEAVY_PIXELS=str(HEAVY_PIXELS),
                    GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        stack.start_worker(HEAVY_INFERENCE_QUEUE, 1, name="heavy")
        stack.start_api()
        with stack.client() as client:
            large = client.post("/translate", files={"image": ("l.png", png(1024, channels=1), "image/png")},
                                data={"model": "edges2digits-pix2pix"}, headers={"Prefer": "wait=120"})
            small = client.post("/translate", files={"image": ("s.png", png(64, channels=1), "image/png")},
                                data={"model": "edges2digits-pix2pix"})
        assert large.status_code == 200 and large.json()["status"] == "succeeded", large.text
        # It ran, and the only worker consumes the heavy queue alone (how it was queued went at its end).
        assert large.json()["metrics"]["worker"] == worker_of(stack, "heavy")
        assert queue_of(stack, small.json()["id"]) == INFERENCE_QUEUE
