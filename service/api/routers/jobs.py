"""GET /jobs (the caller's, paged), GET /jobs/{id}, its outputs, and cancellation."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from service.api import job_index
from service.api.caller import current_caller, current_owner
from service.api.deps import StateDep
from service.api.errors import Problem, unknown_job
from service.api.outputs_from_store import stored_output
from service.api.ownership import find_job as visible_job
from service.api.schemas.jobs import JobPage
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.core.job_store import utcnow
from service.core.jobs import Job, JobKind, JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"])


def find_job(state, job_id: str) -> Job:
    """The job as the caller may see it; 404 for a job that is not the caller's (admins see all)."""
    caller = current_caller()
    if caller is None:
        raise unknown_job(job_id)
    return visible_job(state, job_id, caller)


@router.get("", response_model=JobPage, responses=PROBLEM_RESPONSES, summary="Your jobs, newest first")
def list_jobs(
    state: StateDep,
    response: Response,
    kind: Annotated[JobKind | None, Query(description="Only jobs of this kind.", examples=["train"])] = None,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status now.", examples=["running"])] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Most jobs on the page.", examples=[20])] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")] = None,
) -> JobPage:
    """The jobs you created and that have not expired, cursor-paginated; `Link: <...>; rel="next"`
    names the next page too."""
    found = job_index.page(state.jobs, current_owner() or job_index.ANONYMOUS, kind=kind, status=status, limit=limit, cursor=cursor)
    if found.next_cursor:
        query = "&".join(f"{k}={v}" for k, v in (("kind", kind), ("status", status and status.value),
                                                  ("limit", limit), ("cursor", found.next_cursor)) if v)
        response.headers["Link"] = f'</jobs?{query}>; rel="next"'
    return JobPage(jobs=found.jobs, next_cursor=found.next_cursor)


@router.get("/{job_id}", response_model=Job, responses=PROBLEM_RESPONSES, summary="A job as it stands")
def get_job(job_id: str, state: StateDep) -> Job:
    return find_job(state, job_id)


@router.get(
    "/{job_id}/outputs/{name}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The output's bytes"}, **PROBLEM_RESPONSES},
    summary="One output of a finished job",
)
def get_output(job_id: str, name: str, state: StateDep) -> Response:
    job = find_job(state, job_id)
    output = next((o for o in job.outputs if o.name == name), None)
    if output is None:
        names = ", ".join(o.name for o in job.outputs) or "none yet"
        raise Problem(404, "unknown-output", "Unknown output", f"job {job_id} has no output {name!r} (outputs: {names})")
    headers = {"ETag": f'"{output.sha256}"', "Cache-Control": "private, max-age=3600, immutable"}
    if output.stored:  # a large output: in the artifact store, not Redis
        answer = stored_output(state, output, headers)
    else:
        data = state.jobs.get_blob(output.sha256)
        answer = None if data is None else Response(data, media_type=output.content_type, headers=headers)
    if answer is None:
        raise Problem(
            410, "output-expired", "Output expired",
            f"{name} expired from the result cache after {state.settings.output_ttl_s} s; submit the job again",
        )
    return answer


@router.post(
    "/{job_id}/cancel", response_model=Job, status_code=202, responses=PROBLEM_RESPONSES, summary="Cancel a job"
)
def cancel_job(job_id: str, state: StateDep, response: Response) -> Job:
    """A queued job never runs once canceled; a running one stops at its next check and keeps no result."""
    find_job(state, job_id)
    found = state.jobs.transition(
        job_id, {JobStatus.queued, JobStatus.running}, JobStatus.canceled, finished_at=utcnow()
    )
    if found is not None and found.is_terminal:
        raise Problem(409, "job-finished", "Job already finished", f"job {job_id} is already {found.value}")
    response.headers["Location"] = f"/jobs/{job_id}"
    return find_job(state, job_id)
