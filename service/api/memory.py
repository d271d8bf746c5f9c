"""Hands the API's freed heap back to the system once a burst is over (issue 27, item 11).

What a burst leaves behind in the API is not Python objects: measured with tracemalloc over
bursts of every kind of request (bench/api_memory.py), the Python heap stays at the same size
while the resident memory keeps rising. glibc's malloc keeps what it freed: every thread that
allocates (image decoding, form parsing and the routes that are plain functions run in the
thread pool) gets an arena of its own, up to 8 per core, and an arena gives pages back only
from its top, so a burst's freed memory stays resident until `malloc_trim(0)` walks every arena
and returns their free pages.

So each API process trims once it has been quiet for `GANFORGE_API_TRIM_IDLE_S` after serving
(once per quiet spell; health probes and metric scrapes do not count as traffic). The trim runs on the event loop, which is idle then; it takes a few
milliseconds, which is all a request arriving at that moment could wait. /metrics counts the trims
(`ganforge_api_memory_trims_total`) beside the process's resident memory
(`process_resident_memory_bytes`), so a dashboard shows both. Not glibc (musl, macOS): nothing
to trim, and nothing done.
"""

import asyncio
import ctypes
import ctypes.util
import logging
import os
import time

from fastapi import FastAPI
from prometheus_client import ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)


ARENAS = 2  # glibc's default is 8 per core; the API's threads mostly wait on Redis
M_ARENA_MAX = -8  # mallopt's parameter number (malloc.h)


def _libc(name: str):
    """A glibc function, or None where there is none."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def _libc_trim():
    return _libc("malloc_trim")


def limit_arenas(arenas: int = ARENAS) -> None:
    """Fewer arenas for the threads to come: each keeps its own freed memory and fragments, and a
    trim cannot hand back a page that one live allocation pins. MALLOC_ARENA_MAX, glibc's own
    variable, wins when it is set."""
    mallopt = _libc("mallopt")
    if mallopt is not None and "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(M_ARENA_MAX, arenas)


class IdleTrim:
    """Notes when requests start; trims the heap after a quiet spell that followed some traffic."""

    def __init__(self, idle_s: float):
        self.idle_s = idle_s
        self.trims = 0
        self._malloc_trim = _libc_trim()
        self._last_request = time.monotonic()
        self._served_since_trim = False
        self._task: asyncio.Task | None = None

    @property
    def enabled(self) -> bool:
        return self.idle_s > 0 and self._malloc_trim is not None

    def request_started(self) -> None:
        self._last_request = time.monotonic()
        self._served_since_trim = True

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="idle-trim")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _watch(self) -> None:
        while True:
            quiet_for = time.monotonic() - self._last_request
            if not self._served_since_trim or quiet_for < self.idle_s:
                await asyncio.sleep(max(self.idle_s - quiet_for, self.idle_s / 4))
                continue
            self._served_since_trim = False
            self._malloc_trim(0)
            self.trims += 1
            log.debug("heap trimmed after %.1f s without a request", quiet_for)


# Probes and scrapes come every few seconds and allocate little: counted as traffic, they would
# keep a process under a readiness probe from ever being quiet for GANFORGE_API_TRIM_IDLE_S.
PROBES = frozenset({"/health", "/ready", "/v2/health/live", "/v2/health/ready", "/metrics"})


class NoteRequests:
    """The middleware that tells an `IdleTrim` when each request starts (probes and scrapes aside)."""

    def __init__(self, app: ASGIApp, trim: IdleTrim):
        self.app = app
        self.trim = trim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PROBES:
            self.trim.request_started()
        await self.app(scope, receive, send)


class TrimCollector:
    """`ganforge_api_memory_trims_total` at scrape time."""

    def __init__(self, trim: IdleTrim):
        self.trim = trim

    def describe(self):
        return []

    def collect(self):
        yield CounterMetricFamily("ganforge_api_memory_trims", "Times this API process handed its freed heap back "
                                  "to the system (malloc_trim) after a quiet spell.", value=self.trim.trims)


class HeldCollector:
    """`ganforge_api_held{table}`: the entries the API process keeps per request in flight (the
    event hub's waiters, expected jobs and announced ends, the coalescer's jobs): each returns to
    0 when the process is idle, so one that does not is a leak, seen before it is a gigabyte."""

    def __init__(self, app: FastAPI):
        self.app = app

    def describe(self):
        return []

    def collect(self):
        state = getattr(self.app.state, "ganforge", None)
        if state is None or state.hub is None:  # before the lifespan ran
            return
        held = state.hub.held()
        if state.coalescer is not None:
            held["jobs coalescing"] = state.coalescer.in_flight
        family = GaugeMetricFamily("ganforge_api_held", "Entries this API process keeps for requests in flight, "
                                   "by table; 0 when idle.", labels=["table"])
        for table, size in held.items():
            family.add_metric([table], size)
        yield family


def install_idle_trim(app: FastAPI, idle_s: float) -> IdleTrim:
    """The trimmer as `app.state.idle_trim` (the lifespan starts and stops it), the middleware
    that feeds it, and its figures with what the process holds per request (HeldCollector) in the
    app's metrics registry (install_metrics first)."""
    limit_arenas()  # before the thread pool's threads exist: they take arenas as they first allocate
    trim = app.state.idle_trim = IdleTrim(idle_s)
    app.add_middleware(NoteRequests, trim=trim)
    registry = app.state.metrics_registry
    registry.register(TrimCollector(trim))
    registry.register(HeldCollector(app))
    ProcessCollector(registry=registry)  # process_resident_memory_bytes and friends, of this process
    return trim
