"""Webhooks delivered from real workers to a receiver on loopback (signing and the SSRF guard alone:
tests/unit/workers/test_webhook_signing.py)."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import make_stack

from service.core.job_store import JobStore, utcnow
from service.core.jobs import Job, JobStatus, JobWebhook
from service.core.queue import create_celery
from service.core.settings import Settings
from workers.context import WorkerContext
from workers.webhooks import notify_progress, verify

MODEL = "mnist-cdcgan"
SECRET = "test-secret-9f1c"


@dataclass
class Receiver:
    """An HTTP server on loopback that records each POST and answers with `statuses` first, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.arrived:
                    receiver.received.append({
                        "event": self.headers["X-GANForge-Event"], "headers": self.headers, "body": body,
                        "job": json.loads(body), "verified": verify(SECRET, self.headers, body),
                    })
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait_for(self, count: int, timeout_s: float = 30) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout_s)
            return list(self.received)

    def events(self) -> list[str]:
        return [r["event"] for r in self.received]


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    with make_stack(
        tmp_path_factory, "hooks", GANFORGE_WEBHOOK_SECRET=SECRET, GANFORGE_WEBHOOK_BACKOFF_S=0.2,
        GANFORGE_WEBHOOK_PROGRESS_INTERVAL_S=1, GANFORGE_WEBHOOK_ALLOW_PRIVATE=1,  # the receiver is on loopback
    ) as stack:
        stack.start_worker()
        stack.start_api()
        yield stack


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.server.shutdown()


@pytest.mark.integration
def test_a_job_posts_start_then_completed_signed_with_the_secret(hooks, receiver):
    with hooks.client() as api:
        job = api.post("/generate", json={"model": MODEL, "n": 2, "webhook": receiver.url}).json()
    start, completed = receiver.wait_for(2)
    assert [start["event"], completed["event"]] == ["start", "completed"]
    assert start["verified"] and completed["verified"]
    assert start["headers"]["Content-Type"] == "application/json"
    assert start["headers"]["X-GANForge-Delivery"] != completed["headers"]["X-GANForge-Delivery"]
    assert start["job"]["id"] == completed["job"]["id"] == job["id"]
    assert start["job"]["status"] == "running"
    final = completed["job"]
    assert final["status"] == "succeeded" and len(final["outputs"]) == 2
    assert final["webhook"] == {"url": receiver.url, "events": ["start", "progress", "completed"]}
    assert "webhook" not in final["params"]  # how to report is not what to compute


@pytest.mark.integration
def test_webhook_events_filters_what_is_sent(hooks, receiver):
    with hooks.client() as api:
        api.post("/generate", json={"model": MODEL, "n": 1, "webhook": receiver.url, "webhook_events": ["completed"]})
    receiver.wait_for(1)
    time.sleep(0.5)  # a stray start would have come first anyway: completed waits for earlier ones
    assert receiver.events() == ["completed"]


@pytest.mark.integration
def test_the_terminal_event_is_retried_on_503_until_it_is_taken(hooks, receiver):
    receiver.statuses = [503, 503]
    with hooks.client() as api:
        api.post("/generate", json={"model": MODEL, "n": 1, "webhook": receiver.url, "webhook_events": ["completed"]})
    attempts = receiver.wait_for(3)
    time.sleep(1.0)  # and no fourth once the receiver said 200
    assert receiver.events() == ["completed"] * 3
    assert [a["headers"]["X-GANForge-Attempt"] for a in attempts] == ["1", "2", "3"]
    assert len({a["headers"]["X-GANForge-Delivery"] for a in attempts}) == 1
    assert all(a["verified"] for a in attempts)


@pytest.mark.integration
def test_start_is_best_effort_and_not_retried(hooks, receiver):
    receiver.statuses = [503]
    with hooks.client() as api:
        api.post("/generate", json={"model": MODEL, "n": 1, "webhook": receiver.url})
    receiver.wait_for(2)
    time.sleep(1.0)
    assert receiver.events() == ["start", "completed"]


@pytest.mark.integration
def test_a_cached_repeat_posts_completed_and_webhooks_are_not_part_of_the_cache_key(hooks, receiver):
    body = {"model": MODEL, "n": 2, "seed": 4242}
    with hooks.client() as api:
        first = api.post("/generate", json=body, headers={"Prefer": "wait=30"}).json()
        assert first["status"] == "succeeded"
        repeat = api.post("/generate", json={**body, "webhook": receiver.url})
    assert repeat.status_code == 200 and repeat.json()["cached"] is True
    (completed,) = receiver.wait_for(1)
    time.sleep(0.5)
    assert receiver.events() == ["completed"]  # no worker ran it, so no start
    assert completed["verified"] and completed["job"]["id"] == repeat.json()["id"]
    assert completed["job"]["cached"] is True and completed["job"]["status"] == "succeeded"


@pytest.mark.integration
def test_progress_is_throttled_per_job_across_callers(hooks, receiver):
    settings = Settings(redis_url=hooks.redis_server.url, webhook_progress_interval_s=1)
    create_celery(settings)  # the current app, through which notify queues deliveries to the stack's worker
    context = WorkerContext(settings)
    job = Job(
        id="progress-" + str(time.time_ns()), kind="train", status=JobStatus.running, params={}, created_at=utcnow(),
        webhook=JobWebhook(url=receiver.url, events=["progress"]),
    )
    JobStore(context.redis, job_ttl_s=60, output_ttl_s=60).create(job)
    assert [notify_progress(context, job.id) for _ in range(5)] == [True, False, False, False, False]
    time.sleep(1.1)
    assert notify_progress(context, job.id)
    receiver.wait_for(2)
    assert receiver.events() == ["progress", "progress"]
    assert receiver.received[0]["verified"] and receiver.received[0]["job"]["id"] == job.id
    context.close()


@pytest.mark.integration
def test_a_webhook_must_be_an_http_url(hooks):
    with hooks.client() as api:
        answer = api.post("/generate", json={"model": MODEL, "webhook": "ftp://example.com/hook"})
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "webhook"
        answer = api.post("/generate", json={"model": MODEL, "webhook": "https://example.com/", "webhook_events": ["done"]})
        assert answer.status_code == 422


@pytest.mark.integration
def test_a_job_canceled_while_queued_posts_completed_with_its_final_state(tmp_path_factory, receiver):
    with make_stack(tmp_path_factory, "hooks-cancel", GANFORGE_WEBHOOK_SECRET=SECRET, GANFORGE_WEBHOOK_ALLOW_PRIVATE=1) as stack:
        stack.start_api()  # no worker yet: the job waits in the queue
        with stack.client() as api:
            job = api.post("/generate", json={"model": MODEL, "n": 1, "webhook": receiver.url}).json()
            assert api.post(f"/jobs/{job['id']}/cancel").json()["status"] == "canceled"
            stack.start_worker()
            (completed,) = receiver.wait_for(1)
        assert completed["event"] == "completed" and completed["verified"]
        assert completed["job"]["id"] == job["id"] and completed["job"]["status"] == "canceled"


@pytest.mark.integration
def test_by_default_a_worker_does_not_post_into_its_own_network(tmp_path_factory, receiver):
    with make_stack(tmp_path_factory, "hooks-ssrf", GANFORGE_WEBHOOK_SECRET=SECRET) as stack:
        stack.start_worker()
        stack.start_api()
        with stack.client() as api:
            job = api.post("/generate", json={"model": MODEL, "n": 1, "webhook": receiver.url},
                           headers={"Prefer": "wait=30"}).json()
            assert job["status"] == "succeeded"  # the job itself is unaffected
        log = stack.state_dir / "worker-0.log"
        deadline = time.monotonic() + 20
        while log.read_text().count("refused") < 2:  # both start and completed were turned away
            assert time.monotonic() < deadline, "the worker never tried the webhook"
            time.sleep(0.2)
        assert receiver.events() == []
