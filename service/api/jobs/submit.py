"""One path for every job: read what the decision needs in one round trip, answer from the result
cache, or record the job and queue it in one more, all on the event loop's Redis client.

    submit_on_model(state, ref, plan_of, task=...)   /generate, /translate, /upscale, /evaluate, OIP v2
    submit(state, plan)                               /train, model uploads

A job on a model reads, in its first round trip: the model's owner, the cached answer (for a
deterministic request) and its queue's depth. Whatever the request got wrong is told only after
the owner check, so another owner's model is a 404 whatever else is asked of it. Then:
- a hit: whether the answer's blobs are all still there (and the picture's bytes, for a one-call
  answer), then the caller's own finished job recorded;
- a miss: backpressure (429 past `max_queue_depth`), a large input image put into the artifact
  store (jobs/large_inputs.py), then the job's record, its small input bytes, its owner's index
  and its Celery message in one MULTI/EXEC — or, for a coalesced kind, with the
  jobs that arrive together (jobs/coalescer.py).
"""

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from models.manifest import Manifest
from models.store import UnknownModel
from service.api.caller import current_caller, current_owner
from service.api.errors import Problem, unknown_model
from service.api.jobs.answer import keeps_output
from service.api.jobs.cache import answer_from_cache
from service.api.jobs.large_inputs import store_large_inputs
from service.api.jobs.plan import JobPlan, Submitted, new_job_id, stage_new_job
from service.api.metrics import count_cache_lookup
from service.api.model_refs import check_task
from service.api.ownership import decoded_owner, owner_visible, stage_model_owner
from service.api.state import ApiState
from service.core.job_store import AsyncResultCache, utcnow
from service.core.jobs import Job, JobStatus
from service.core.queue import execute_with_message_async
from service.core.redis_clients import NotReplicated
from service.core.routing import COALESCED_KINDS, coalesced_task, route_of

PlanOf = Callable[[Manifest], JobPlan | Awaitable[JobPlan]]
log = logging.getLogger(__name__)


async def submit_on_model(state: ApiState, ref: str, plan_of: PlanOf, *, task: str | None = None,
                          with_picture: bool = False,
                          not_found: Callable[[UnknownModel], Problem] = unknown_model) -> Submitted:
    """The job `plan_of(manifest)` plans on the version `ref` names (from memory:
    ModelStore.resolve_cached), checked to do `task`. 404 (`not_found`) when there is no such
    model or it is another owner's; `with_picture`: a hit brings its picture's bytes."""
    name = ref.partition(":")[0]
    plan, refusal = None, None
    try:
        manifest = state.models.resolve_cached(ref)
        if task is not None:
            check_task(manifest, task)
        planned = plan_of(manifest)
        plan = await planned if inspect.isawaitable(planned) else planned
    except UnknownModel as missing:
        refusal = not_found(missing)
    except Problem as problem:
        refusal = problem
    reads = state.redis_async.pipeline(transaction=False)
    stage_model_owner(reads, name)
    if plan is not None:
        _stage_reads(reads, plan)
    answers = await reads.execute()
    caller = current_caller()
    if caller is None or not owner_visible(decoded_owner(answers[0]), caller):  # as if there were none
        raise not_found(UnknownModel(f"no model named {name!r}"))
    if refusal is not None:
        raise refusal
    return await _decide(state, plan, answers[1:], with_picture)


async def submit(state: ApiState, plan: JobPlan, *, with_picture: bool = False) -> Submitted:
    """A job whose request is checked already (`plan`): answered from the cache or queued."""
    reads = state.redis_async.pipeline(transaction=False)
    _stage_reads(reads, plan)
    return await _decide(state, plan, await reads.execute(), with_picture)


def _stage_reads(reads: Any, plan: JobPlan) -> None:
    if plan.digest is not None:
        AsyncResultCache.stage_cache_get(reads, plan.digest)
    reads.llen(plan.queue_route.queue)


async def _decide(state: ApiState, plan: JobPlan, answers: list[Any], with_picture: bool) -> Submitted:
    """`answers`: what `_stage_reads` read for `plan`."""
    if plan.digest is not None:
        raw, answers = answers[0], answers[1:]
        hit = await answer_from_cache(state, plan, raw, with_picture=with_picture) if raw is not None else None
        count_cache_lookup(state, plan.kind, hit is not None)
        if hit is not None:
            return hit
    return Submitted(await enqueue(state, plan, queue_depth=answers[0], one_call=with_picture))


def check_queue_depth(state: ApiState, queue: str, depth: int) -> None:
    """Backpressure: past the bound, a client is told to come back rather than wait in a long line."""
    if depth >= state.settings.max_queue_depth:
        raise Problem(
            429, "queue-full", "Too many queued jobs",
            f"the {queue} queue holds {depth} jobs (limit {state.settings.max_queue_depth}); retry later",
            headers={"Retry-After": "2"},
        )


async def enqueue(state: ApiState, plan: JobPlan, *, queue_depth: int, one_call: bool = False) -> Job:
    """Record the job and send its message (`queue_depth`: its queue's length, read already;
    `one_call`: it is answered with its picture, whose output then lives GANFORGE_ONE_CALL_TTL_S)."""
    route = plan.queue_route
    check_queue_depth(state, route.queue, queue_depth)
    # A large input image goes to the artifact store first: if it cannot, nothing of the job is written.
    params, inputs = await store_large_inputs(state, plan.params, plan.inputs or {})
    if one_call and not keeps_output():  # the worker writes its outputs with this TTL (workers/job_io.py)
        params = {**params, "output_ttl_s": state.settings.one_call_ttl_s}
    job = Job(
        id=new_job_id(), kind=plan.kind, status=JobStatus.queued, model=plan.model, params=params,
        created_at=utcnow(), webhook=plan.webhook, owner=current_owner(),
    )
    task_kwargs = plan.task_kwargs or {}
    if state.hub is not None:
        state.hub.expect(job.id)  # before it can end: its end's announcement is kept for the answer's wait

    def record(pipe: Any) -> None:  # its inputs, the job, how it is queued (for the reaper), its owner's index
        for sha256, data in inputs.items():
            state.jobs_async.stage_blob(pipe, data, sha256)
        stage_new_job(state, pipe, job, task={"name": route.task, "queue": route.queue, "kwargs": task_kwargs})

    try:
        if state.coalescer is not None and plan.kind in COALESCED_KINDS and route == route_of(plan.kind):
            # one message for the jobs that arrive together (jobs/coalescer.py)
            await state.coalescer.submit(coalesced_task(plan.kind), route.queue, job.id, task_kwargs, record)
        else:  # the job and its message in one MULTI/EXEC: neither lands without the other
            pipe = state.redis_async.pipeline(transaction=True)
            record(pipe)
            await execute_with_message_async(pipe, state.celery, route.task, args=[job.id], kwargs=task_kwargs,
                                             queue=route.queue)
    except NotReplicated as shortfall:
        # The event loop's client WAITs for a replica after the MULTI/EXEC (state.async_redis). The
        # job is on the primary but not reported as accepted: it is canceled there, so a worker
        # that takes its message leaves it, and the client's retry makes the job it is told about.
        if state.hub is not None:
            state.hub.forget(job.id)
        await asyncio.to_thread(_cancel_unreported, state, job.id)
        raise Problem(503, "not-replicated", "Service unavailable",
                      f"the job could not be copied to a Redis replica in time ({shortfall}); try again shortly",
                      headers={"Retry-After": "1"}) from None
    return job


def _cancel_unreported(state: ApiState, job_id: str) -> None:
    try:
        state.jobs.transition(job_id, {JobStatus.queued}, JobStatus.canceled, finished_at=utcnow())
    except redis.RedisError as error:  # the primary is gone too: so is the job, or it runs unseen
        log.warning("could not cancel unreplicated job %s: %s", job_id, error)
