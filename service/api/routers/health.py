"""GET /health (the process is alive) and GET /ready (it can do work)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.auth import OptionalCallerDep
from service.api.deps import StateDep
from service.api.errors import problem_response
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.core.presence import live_workers
from service.core.routing import INFERENCE_QUEUE

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness")
def health() -> dict:
    return {"status": "ok"}


NOT_READY = {503: {**PROBLEM_RESPONSES[503], "description": "Not ready: Redis unreachable, or no worker consumes "
                                                             "the inference queue; retry after Retry-After s"}}


@router.get("/ready", summary="Readiness: Redis answers and a worker consumes the inference queue",
            responses=NOT_READY)
def ready(state: StateDep, caller: OptionalCallerDep) -> JSONResponse:
    """Everyone learns whether the service is ready; only an admin key sees which workers serve it:
    their queues, the device each runs on and its memory used/total, from their presence records
    (service/core/presence.py, workers/devices.py)."""
    state.redis.ping()  # a ConnectionError becomes a 503 problem
    workers = live_workers(state.redis)
    if not any(INFERENCE_QUEUE in w["queues"] for w in workers):
        return problem_response(
            503, "no-worker", "Not ready", f"no live worker consumes the {INFERENCE_QUEUE!r} queue",
            headers={"Retry-After": "5"},
        )
    if caller is None or not caller.is_admin:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "ready", "workers": workers})
