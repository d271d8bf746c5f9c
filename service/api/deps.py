"""FastAPI dependencies, as `Annotated` aliases in one place.

Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` one in a worker thread,
a hop that costs more than the few lines it runs (several per request on the hot path)."""

import math
import re
from typing import Annotated

from fastapi import Depends, Header, Request

from service.api.jobs.idempotency import idempotency_key
from service.api.state import ApiState


async def get_state(request: Request) -> ApiState:
    return request.app.state.ganforge


StateDep = Annotated[ApiState, Depends(get_state)]

# The whole number, exponent included: `wait=1e9` is a billion seconds (then capped), not 1.
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])")


async def prefer_wait(
    prefer: Annotated[
        str | None,
        Header(description="`wait=N`: answer 200 with the finished job if it ends within N seconds (RFC 7240)."),
    ] = None,
) -> float | None:
    if not prefer:
        return None
    match = _WAIT.search(prefer)
    if not match:
        return None
    seconds = float(match.group(1))
    return seconds if math.isfinite(seconds) else None


PreferWaitDep = Annotated[float | None, Depends(prefer_wait)]

IdempotencyKeyDep = Annotated[str | None, Depends(idempotency_key)]
