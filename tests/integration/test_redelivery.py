"""Jobs a worker fetched but never started (its prefetch) are sent again within seconds when it
dies, instead of after the broker's one-hour visibility timeout, and run once."""

import io
import signal
import time

import numpy as np
import pytest
from conftest import make_stack
from PIL import Image

from service.core import keys

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-durability-tests"


def test_prefetched_jobs_of_a_killed_worker_finish_on_another(tmp_path_factory):
    with make_stack(tmp_path_factory, "redeliver", GANFORGE_LEASE_TTL_S="6", GANFORGE_ADMIN_KEY=ADMIN_KEY) as stack:
        doomed = stack.start_worker(queues="inference", concurrency=1, name="doomed")
        stack.start_api()
        with stack.client() as client:
            # A slow job first, so the ones after it wait in the worker's prefetch buffer.
            pixels = np.random.default_rng(0).integers(0, 255, (384, 384, 3), dtype=np.uint8)
            image = io.BytesIO()
            Image.fromarray(pixels).save(image, "PNG")
            slow = client.post("/upscale", files={"image": ("x.png", image.getvalue(), "image/png")},
                               data={"model": "sr-x4"})
            assert slow.status_code == 202, slow.text
            ids = [slow.json()["id"]]
            ids += [client.post("/generate", json={"model": "mnist-cdcgan", "n": 16}).json()["id"] for _ in range(8)]
            deadline = time.monotonic() + 30
            fetched: dict = {}
            while time.monotonic() < deadline:
                fetched = stack.redis.hgetall(keys.RECEIVED)
                statuses = {i: client.get(f"/jobs/{i}").json()["status"] for i in ids}
                if any(statuses[k.decode()] == "queued" for k in fetched):
                    break
                time.sleep(0.05)
            prefetched = [k.decode() for k in fetched if statuses[k.decode()] == "queued"]
            assert prefetched, "the worker held no fetched-but-unstarted job to test with"
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
            killed_at = time.monotonic()
            stack.start_worker(queues="inference", concurrency=2, name="rescuer")
            pending = set(ids)
            while pending and time.monotonic() - killed_at < 45:
                pending = {i for i in pending if client.get(f"/jobs/{i}").json()["status"] != "succeeded"}
                time.sleep(0.3)
            assert not pending, f"{len(pending)} jobs still not done ({len(prefetched)} were prefetched)"
            assert time.monotonic() - killed_at < 45
            for job_id in prefetched:  # ran once: one start, one end
                events = client.get(f"/jobs/{job_id}/events", timeout=10).text
                assert events.count('"status": "running"') == 1, events
