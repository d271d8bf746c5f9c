"""GET /jobs/{id}/events: the job's life as Server-Sent Events.

Each stream entry in Redis becomes one SSE event with the entry id as `id:`, so a client that
reconnects with `Last-Event-ID` misses nothing. Events: `status` ({"status": ...}), `progress`,
`sample` (a sample grid's output), `checkpoint`; after the terminal status an `end` event
carries the final job and the stream closes.
"""

import json
import time
from typing import Annotated, Iterator

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from service.api.deps import StateDep
from service.api.routers.jobs import find_job
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.state import ApiState
from service.core.jobs import JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"])

KEEPALIVE_S = 15


def sse(event: str, data: object, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def job_events(state: ApiState, job_id: str, after: str) -> Iterator[str]:
    yield "retry: 2000\n\n"
    quiet_since = time.monotonic()
    while True:
        entries = state.jobs.events(job_id, after, block_ms=KEEPALIVE_S * 1000)
        for entry_id, event, data in entries:
            after = entry_id
            yield sse(event, {"status": data} if event == "status" else data, entry_id)
        if entries:
            ended = any(event == "status" and JobStatus(data).is_terminal for _, event, data in entries)
            quiet_since = time.monotonic()
        else:  # quiet: the end may lie before `after` (a client resuming late), or the job expired
            status = state.jobs.status(job_id)
            ended = status is None or status.is_terminal
            if not ended and time.monotonic() - quiet_since >= KEEPALIVE_S:
                yield ": keep-alive\n\n"  # so proxies and clients keep a quiet stream open
                quiet_since = time.monotonic()
        if ended:
            job = state.jobs.get(job_id)
            if job is not None:
                yield sse("end", job.model_dump(mode="json"))
            return


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The job's events"}, **PROBLEM_RESPONSES},
    summary="Follow a job as Server-Sent Events",
)
def stream_events(
    job_id: str,
    state: StateDep,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id.")] = None,
) -> StreamingResponse:
    find_job(state, job_id)
    return StreamingResponse(
        job_events(state, job_id, last_event_id or "0-0"),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
