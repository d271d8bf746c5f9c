"""`Client` (sync) and `AsyncClient`: drivers of the SDK's flows over httpx.

Both send each Call with retries (429 and 503 honouring Retry-After; lost connections where a
repeat is safe) and follow a job over GET /jobs/{id}/events for a WaitFor, resuming with
Last-Event-ID after a dropped stream.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from ganforge import _config
from ganforge._api import Api, Jobs
from ganforge._calls import Call, FilePart, WaitFor
from ganforge._flows import get_job, list_jobs
from ganforge._retry import RETRY_STATUSES, RetryPolicy, retry_after_seconds
from ganforge._sse import SseParser
from ganforge._surface import Async, Sync
from ganforge.errors import ConnectionFailed, WaitTimeout, error_for
from ganforge.types import Job

STREAM_READ_S = 30.0  # the server sends a keep-alive every 15 s on a quiet stream
RECONNECT_S = 0.2  # pause before following again a stream that closed while the job went on


def _files(parts: dict[str, FilePart] | None, stack: contextlib.ExitStack) -> dict[str, tuple] | None:
    """httpx's `files`, with paths opened afresh (so a retry sends the whole file again)."""
    if not parts:
        return None
    opened = {}
    for name, part in parts.items():
        source = part.source if isinstance(part.source, bytes) else stack.enter_context(Path(part.source).open("rb"))
        opened[name] = (part.filename, source, part.content_type)
    return opened


def _stream_headers(last_id: str | None) -> dict[str, str]:
    headers = {"Accept": "text/event-stream"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    return headers


class _Following:
    """The bookkeeping of following one job's events: where to resume, when to give up."""

    def __init__(self, wait: WaitFor):
        self.wait = wait
        self.last_id: str | None = None
        self.failures = 0
        self._end = None if wait.timeout_s is None else time.monotonic() + wait.timeout_s

    def remaining(self) -> float | None:
        return None if self._end is None else self._end - time.monotonic()

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def read_timeout(self) -> float:
        remaining = self.remaining()
        return STREAM_READ_S if remaining is None else max(0.05, min(remaining, STREAM_READ_S))

    def feed(self, parser: SseParser, line: str) -> Job | None:
        """The final job once the `end` event arrives."""
        event = parser.feed(line)
        if event is None:
            return None
        self.failures = 0
        self.last_id = event.id or self.last_id
        if self.wait.progress is not None:
            self.wait.progress.on_event(event)
        return Job.model_validate(event.data) if event.event == "end" else None


class Client(Api[Sync]):
    """The sync client. `base_url` defaults to $GANFORGE_URL (else http://127.0.0.1:8000), `api_key`
    to $GANFORGE_API_KEY. Every create carries a fresh Idempotency-Key unless `idempotency=False`.

        with ganforge.Client() as gf:
            (digit,) = gf.generate("mnist-cdcgan", seed=7, labels=3)
    """

    jobs: "SyncJobs"  # with `iter`, beside what every client's jobs have

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float | httpx.Timeout = 30.0, retry: RetryPolicy | None = None, idempotency: bool = True,
                 progress: bool = True, transport: httpx.BaseTransport | None = None) -> None:
        settings = _config.Settings.resolve(base_url, api_key, timeout, retry)
        self.base_url, self.retry, self._timeout = settings.base_url, settings.retry, settings.timeout
        self.idempotency, self.progress = idempotency, progress
        self._http = httpx.Client(**settings.http_options(), transport=transport)
        self._attach()
        self.jobs = SyncJobs(self._run)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, flow):
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(result)
            except StopIteration as done:
                return done.value
            result = error = None
            try:
                result = self._wait(step) if isinstance(step, WaitFor) else self._send(step)
            except Exception as failure:  # thrown into the flow, which may clean up or handle it
                error = failure

    def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                with contextlib.ExitStack() as stack:
                    response = self._http.request(
                        call.method, call.path, params=call.params, json=call.json, data=call.data,
                        files=_files(call.files, stack), headers=call.headers, timeout=call.timeout(self._timeout),
                    )
            except httpx.TransportError as error:
                never_sent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt < self.retry.max_retries and (never_sent or call.retry_safe):
                    time.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise ConnectionFailed(f"{call.method} {self.base_url}{call.path}: {error!r}") from error
            if response.status_code in RETRY_STATUSES and attempt < self.retry.max_retries:
                time.sleep(self.retry.delay(attempt, retry_after_seconds(response.headers.get("Retry-After"))))
                attempt += 1
                continue
            if response.is_error:
                raise error_for(response)
            return response

    def _wait(self, wait: WaitFor) -> Job:
        following = _Following(wait)
        with wait.progress or contextlib.nullcontext():
            while True:
                if following.expired():
                    raise WaitTimeout(self._run(get_job(wait.job_id)), wait.timeout_s)
                try:
                    job = self._follow(following)
                except httpx.ReadTimeout:
                    continue  # quiet past the deadline, or a stalled stream: look again
                except httpx.TransportError as error:
                    following.failures += 1
                    if following.failures > self.retry.max_retries:
                        raise ConnectionFailed(f"following job {wait.job_id}: {error!r}") from error
                    time.sleep(self.retry.delay(following.failures - 1))
                    continue
                if job is None:  # the stream closed without an end: ask for the record itself
                    job = self._run(get_job(wait.job_id))
                    if not job.is_terminal:
                        time.sleep(RECONNECT_S)
                        continue
                return job

    def _follow(self, following: _Following) -> Job | None:
        timeout = httpx.Timeout(self._timeout.connect, read=following.read_timeout(), write=self._timeout.write,
                                pool=self._timeout.pool)
        path = f"/jobs/{following.wait.job_id}/events"
        with self._http.stream("GET", path, headers=_stream_headers(following.last_id), timeout=timeout) as response:
            if response.status_code in RETRY_STATUSES:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                time.sleep(self.retry.delay(following.failures, retry_after))
                following.failures += 1
                return None
            if response.is_error:
                response.read()
                raise error_for(response)
            parser = SseParser()
            for line in response.iter_lines():
                job = following.feed(parser, line)
                if job is not None:
                    return job
                if following.expired():
                    raise httpx.ReadTimeout("wait deadline")
        return None


class SyncJobs(Jobs[Sync]):
    def iter(self, *, kind: str | None = None, status: str | None = None, page_size: int = 50) -> Iterator[Job]:
        """Every job of yours that matches, newest first, page after page."""
        cursor = None
        while True:
            page = self._run(list_jobs(kind, status, page_size, cursor))
            yield from page.jobs
            if not page.next_cursor:
                return
            cursor = page.next_cursor


class AsyncClient(Api[Async]):
    """The asyncio client: the same methods as Client, each to be awaited.

        async with ganforge.AsyncClient() as gf:
            (digit,) = await gf.generate("mnist-cdcgan", seed=7, labels=3)
    """

    jobs: "AsyncJobs"

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float | httpx.Timeout = 30.0, retry: RetryPolicy | None = None, idempotency: bool = True,
                 progress: bool = True, transport: httpx.AsyncBaseTransport | None = None) -> None:
        settings = _config.Settings.resolve(base_url, api_key, timeout, retry)
        self.base_url, self.retry, self._timeout = settings.base_url, settings.retry, settings.timeout
        self.idempotency, self.progress = idempotency, progress
        self._http = httpx.AsyncClient(**settings.http_options(), transport=transport)
        self._attach()
        self.jobs = AsyncJobs(self._run)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, flow):
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(result)
            except StopIteration as done:
                return done.value
            result = error = None
            try:
                result = await (self._wait(step) if isinstance(step, WaitFor) else self._send(step))
            except Exception as failure:
                error = failure

    async def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                with contextlib.ExitStack() as stack:
                    response = await self._http.request(
                        call.method, call.path, params=call.params, json=call.json, data=call.data,
                        files=_files(call.files, stack), headers=call.headers, timeout=call.timeout(self._timeout),
                    )
            except httpx.TransportError as error:
                never_sent = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt < self.retry.max_retries and (never_sent or call.retry_safe):
                    await asyncio.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise ConnectionFailed(f"{call.method} {self.base_url}{call.path}: {error!r}") from error
            if response.status_code in RETRY_STATUSES and attempt < self.retry.max_retries:
                await asyncio.sleep(self.retry.delay(attempt, retry_after_seconds(response.headers.get("Retry-After"))))
                attempt += 1
                continue
            if response.is_error:
                raise error_for(response)
            return response

    async def _wait(self, wait: WaitFor) -> Job:
        following = _Following(wait)
        with wait.progress or contextlib.nullcontext():
            while True:
                if following.expired():
                    raise WaitTimeout(await self._run(get_job(wait.job_id)), wait.timeout_s)
                try:
                    job = await self._follow(following)
                except httpx.ReadTimeout:
                    continue
                except httpx.TransportError as error:
                    following.failures += 1
                    if following.failures > self.retry.max_retries:
                        raise ConnectionFailed(f"following job {wait.job_id}: {error!r}") from error
                    await asyncio.sleep(self.retry.delay(following.failures - 1))
                    continue
                if job is None:
                    job = await self._run(get_job(wait.job_id))
                    if not job.is_terminal:
                        await asyncio.sleep(RECONNECT_S)
                        continue
                return job

    async def _follow(self, following: _Following) -> Job | None:
        timeout = httpx.Timeout(self._timeout.connect, read=following.read_timeout(), write=self._timeout.write,
                                pool=self._timeout.pool)
        path = f"/jobs/{following.wait.job_id}/events"
        async with self._http.stream("GET", path, headers=_stream_headers(following.last_id),
                                     timeout=timeout) as response:
            if response.status_code in RETRY_STATUSES:
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                await asyncio.sleep(self.retry.delay(following.failures, retry_after))
                following.failures += 1
                return None
            if response.is_error:
                await response.aread()
                raise error_for(response)
            parser = SseParser()
            async for line in response.aiter_lines():
                job = following.feed(parser, line)
                if job is not None:
                    return job
                if following.expired():
                    raise httpx.ReadTimeout("wait deadline")
        return None


class AsyncJobs(Jobs[Async]):
    async def iter(self, *, kind: str | None = None, status: str | None = None,
                   page_size: int = 50) -> AsyncIterator[Job]:
        """Every job of yours that matches, newest first, page after page."""
        cursor = None
        while True:
            page = await self._run(list_jobs(kind, status, page_size, cursor))
            for job in page.jobs:
                yield job
            if not page.next_cursor:
                return
            cursor = page.next_cursor
