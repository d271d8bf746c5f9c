"""GET /jobs/{id}, its outputs, and cancellation."""

from fastapi import APIRouter, Response

from service.api.deps import StateDep
from service.api.errors import Problem, unknown_job
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.core.job_store import utcnow
from service.core.jobs import Job, JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"])


def find_job(state, job_id: str) -> Job:
    job = state.jobs.get(job_id)
    if job is None:
        raise unknown_job(job_id)
    return job


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
    data = state.jobs.get_blob(output.sha256)
    if data is None:
        raise Problem(
            410, "output-expired", "Output expired",
            f"{name} expired from the result cache after {state.settings.output_ttl_s} s; submit the job again",
        )
    return Response(
        data, media_type=output.content_type,
        headers={"ETag": f'"{output.sha256}"', "Cache-Control": "private, max-age=3600, immutable"},
    )


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
