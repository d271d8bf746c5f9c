"""Webhooks: POST a job to its `webhook` URL when it starts, progresses and completes.

What a receiver gets, on every attempt:

    POST <webhook>                      body: the job as JSON, exactly as GET /jobs/{id} shows it
    Content-Type: application/json
    X-GANForge-Event: start | progress | completed
    X-GANForge-Delivery: <id>           the same on every retry of one delivery: dedupe on it
    X-GANForge-Attempt: <n>             1 for the first try
    X-GANForge-Timestamp: <unix s>      when this attempt was signed
    X-GANForge-Signature: sha256=<hex>  HMAC-SHA256(webhook_secret, "<delivery>.<timestamp>." + body)

The signed material binds the exact body bytes to the delivery id and the time, so a captured
POST can't be replayed later or under another id: a receiver recomputes the HMAC over the raw
body (before parsing it), compares in constant time, and refuses timestamps older than a few
minutes (`verify` does all three).

Delivery follows Cog's policy. `completed` (succeeded, failed or canceled: the final job) is
retried on 429, 5xx and network errors, with exponential backoff from `webhook_backoff_s`,
doubling up to 5 minutes, or after Retry-After when the receiver sends one, at most
`webhook_max_retries` times. `start` and `progress` are best-effort, one try each, and
`progress` is sent at most once per `webhook_progress_interval_s` per job. `completed` waits
(briefly) for the job's earlier deliveries still in flight, so it arrives last.

Each delivery is a Celery task on the inference queue, so a slow receiver never holds up a job,
and a retry is the same task queued again with a countdown rather than a sleeping thread.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from celery import Celery, Task, shared_task
from celery.utils.log import get_task_logger

from service.core import keys
from service.core.jobs import Job, WebhookEvent
from service.core.logs import job_logging
from service.core.routing import WEBHOOK_ROUTE
from service.core.settings import Settings
from workers.context import WorkerContext, worker_context

log = get_task_logger(__name__)

MAX_BACKOFF_S = 300.0
SIGNATURE_TOLERANCE_S = 300
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
IN_FLIGHT_TTL_S = 600


# -- signing -----------------------------------------------------------------------------------


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The X-GANForge-Signature value for one attempt."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = SIGNATURE_TOLERANCE_S,
           now: float | None = None) -> bool:
    """What a receiver runs: True if `body` was signed with `secret` and recently.

    `headers` must look names up without regard to case (http.server's, httpx's, Starlette's do).
    """
    delivery_id = headers.get("X-GANForge-Delivery")
    timestamp = headers.get("X-GANForge-Timestamp")
    signature = headers.get("X-GANForge-Signature")
    if not (delivery_id and timestamp and signature and timestamp.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, delivery_id, int(timestamp), body), signature)


# -- retry policy ------------------------------------------------------------------------------


def retry_delay(attempt: int, backoff_s: float, retry_after_s: float | None = None) -> float:
    """Seconds before retry number `attempt` (1, 2, …): the receiver's Retry-After, or doubling backoff."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), MAX_BACKOFF_S)
    return min(backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(when - (time.time() if now is None else now), 0.0)


# -- sending -----------------------------------------------------------------------------------


def notify(source: Celery | WorkerContext, job: Job, event: WebhookEvent) -> bool:
    """Queue a delivery of `job` for `event` if the job asked for it; True when one was queued.

    Never raises: a webhook that can't be queued is logged, and the job goes on.
    """
    if job.webhook is None or not job.webhook.wants(event):
        return False
    context = _context(source)
    try:
        if event == "progress" and not _progress_due(context, job.id):
            return False
        if event != "completed":
            # Counted until sent, so that `completed` can wait for it (see `deliver`).
            pipe = context.redis.pipeline()
            pipe.incr(keys.webhook_in_flight(job.id))
            pipe.expire(keys.webhook_in_flight(job.id), IN_FLIGHT_TTL_S)
            pipe.execute()
        deliver.apply_async(kwargs={"job": job.model_dump(mode="json"), "event": event})
    except Exception:
        log.exception("could not queue the %s webhook of job %s", event, job.id)
        return False
    return True


def notify_progress(source: Celery | WorkerContext, job_id: str) -> bool:
    """For long jobs, on each progress update: sends the job as it stands, throttled per job."""
    context = _context(source)
    if json.loads(context.redis.hget(keys.job(job_id), "webhook") or "null") is None:
        return False  # the common case costs one HGET
    job = context.jobs.get(job_id)
    return job is not None and notify(context, job, "progress")


def _context(source: Celery | WorkerContext) -> WorkerContext:
    return source if isinstance(source, WorkerContext) else worker_context(source)


def _progress_due(context: WorkerContext, job_id: str) -> bool:
    # One key per job, in Redis: the throttle holds across threads, processes and machines.
    interval_ms = int(context.settings.webhook_progress_interval_s * 1000)
    if interval_ms <= 0:
        return True
    return bool(context.redis.set(keys.webhook_progress_throttle(job_id), 1, nx=True, px=interval_ms))


@shared_task(name=WEBHOOK_ROUTE.task, bind=True, acks_late=True, reject_on_worker_lost=True)
def deliver(self: Task, job: dict, event: WebhookEvent, delivery_id: str | None = None, attempt: int = 1) -> None:
    """POST `job` to its webhook once; queue the next attempt of a `completed` that may succeed later."""
    context = worker_context(self.app)
    settings = context.settings
    delivery_id = delivery_id or self.request.id
    terminal = event == "completed"
    with job_logging(job["id"]):
        if terminal and attempt == 1:
            _wait_for_earlier(context, job["id"], settings.webhook_timeout_s + 1)
        try:
            failure = _post(settings, job, event, delivery_id, attempt)
        finally:
            if not terminal:
                context.redis.decr(keys.webhook_in_flight(job["id"]))
        if failure is None:
            return
        if not (terminal and failure.retryable and attempt <= settings.webhook_max_retries):
            log.warning("%s webhook %s to %s gave up after attempt %d: %s",
                        event, delivery_id, job["webhook"]["url"], attempt, failure.detail)
            return
        delay = retry_delay(attempt, settings.webhook_backoff_s, failure.retry_after_s)
        log.info("%s webhook %s: %s; retry %d in %.1f s", event, delivery_id, failure.detail, attempt, delay)
        self.apply_async(
            kwargs={"job": job, "event": event, "delivery_id": delivery_id, "attempt": attempt + 1}, countdown=delay
        )


@dataclass(frozen=True)
class Failure:
    detail: str
    retryable: bool
    retry_after_s: float | None = None


def private_destination(url: str) -> str | None:
    """Why `url` must not be called from inside the deployment, or None when every address its
    host resolves to is a public one."""
    parsed = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as error:
        return f"{parsed.hostname} does not resolve: {error}"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            return f"{parsed.hostname} resolves to {address}, a non-public address"
    return None


def _post(settings: Settings, job: dict, event: str, delivery_id: str, attempt: int) -> Failure | None:
    """One attempt; None when the receiver took it."""
    if not settings.webhook_allow_private and (reason := private_destination(job["webhook"]["url"])):
        # Checked per attempt: a name that resolves elsewhere later is checked again.
        return Failure(f"refused: {reason} (GANFORGE_WEBHOOK_ALLOW_PRIVATE=1 allows it)", retryable=False)
    body = json.dumps(job, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GANForge-Webhooks/1",
        "X-GANForge-Event": event,
        "X-GANForge-Delivery": delivery_id,
        "X-GANForge-Attempt": str(attempt),
        "X-GANForge-Timestamp": str(timestamp),
        "X-GANForge-Signature": sign(settings.webhook_secret, delivery_id, timestamp, body),
    }
    timeout = httpx.Timeout(settings.webhook_timeout_s, connect=min(2.0, settings.webhook_timeout_s))
    try:
        response = httpx.post(job["webhook"]["url"], content=body, headers=headers, timeout=timeout)
    except httpx.TransportError as error:  # refused, reset, timed out, bad TLS: worth another try
        return Failure(f"{type(error).__name__}: {error}", retryable=True)
    if response.status_code < 300:
        return None
    return Failure(
        f"HTTP {response.status_code}",
        # Any other answer is the receiver saying no (or a redirect we don't follow): asking again won't help.
        retryable=response.status_code in RETRYABLE_STATUS,
        retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
    )


def _wait_for_earlier(context: WorkerContext, job_id: str, timeout_s: float) -> None:
    """Hold `completed` while the job's `start`/`progress` POSTs are still on their way, up to timeout_s."""
    deadline = time.monotonic() + timeout_s
    while int(context.redis.get(keys.webhook_in_flight(job_id)) or 0) > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
