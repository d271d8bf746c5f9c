"""GET /jobs/{id}/events: the job's life as Server-Sent Events.

Each stream entry in Redis becomes one SSE event with the entry id as `id:`, so a client that
reconnects with `Last-Event-ID` misses nothing. Events: `status` ({"status": ...}), `progress`,
`sample` (a sample grid's output), `checkpoint`; after the terminal status an `end` event
carries the final job and the stream closes.
"""

import json
import re
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from service.api.caller import current_caller
from service.api.deps import StateDep
from service.api.errors import Problem, unknown_job
from service.api.event_hub import EventHub
from service.api.ownership import check_job_owner, job_view
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.core.jobs import JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"])

KEEPALIVE_S = 15
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
# The header as the schema states it: a stream id, blanks around it, or empty (no resume point).
LAST_EVENT_ID_PATTERN = r"^(\s*\d{1,20}-\d{1,20}\s*)?$"


def sse(event: str, data: object, event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


async def job_events(hub: EventHub, job_id: str, after: str) -> AsyncIterator[str]:
    """The stream itself: an asyncio task woken by the hub, no thread and no blocking read held."""
    yield "retry: 2000\n\n"
    async for entries in hub.follow(job_id, after, idle_s=KEEPALIVE_S):
        for entry_id, event, data in entries:
            yield sse(event, {"status": data} if event == "status" else data, entry_id)
        if entries:
            ended = any(event == "status" and JobStatus(data).is_terminal for _, event, data in entries)
        else:  # quiet: the end may lie before `after` (a client resuming late), or the job expired
            status = await hub.status(job_id)
            ended = status is None or status.is_terminal
            if not ended:
                yield ": keep-alive\n\n"  # so proxies and clients keep a quiet stream open
        if ended:
            job = await hub.get(job_id)
            if job is not None:
                caller = current_caller()
                yield sse("end", (job_view(job, caller) if caller else job).model_dump(mode="json"))
            return


def resume_point(last_event_id: str | None) -> str:
    """`Last-Event-ID` must be an id this stream sent (`<ms>-<seq>`); anything else is refused
    rather than passed to XREAD, where it would break the stream after its 200."""
    if last_event_id is None or last_event_id == "":
        return "0-0"
    if not _STREAM_ID.match(last_event_id.strip()):
        message = f"{last_event_id[:40]!r} is not an event id of this stream (ids look like 1712345678901-0)"
        raise Problem(400, "invalid-last-event-id", "Invalid Last-Event-ID", message,
                      errors=[{"field": "Last-Event-ID", "message": message, "type": "invalid_event_id"}])
    return last_event_id.strip()


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "The job's events"}, **PROBLEM_RESPONSES},
    summary="Follow a job as Server-Sent Events",
)
async def stream_events(
    job_id: str,
    state: StateDep,
    last_event_id: Annotated[str | None, Header(
        description="Resume after this event id (one this stream sent).", pattern=LAST_EVENT_ID_PATTERN,
        examples=["1712345678901-0"],
    )] = None,
) -> StreamingResponse:
    after = resume_point(last_event_id)
    caller = current_caller()
    if caller is None:
        raise unknown_job(job_id)
    await check_job_owner(state, job_id, caller)  # none, or another owner's: 404 either way
    return StreamingResponse(
        job_events(state.hub, job_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
