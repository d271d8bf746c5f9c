"""GET /models, /models/{name}, /models/{name}/versions/{version}."""

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from models.manifest import Manifest
from models.store import UnknownModel
from service.api.auth import CallerDep
from service.api.deps import StateDep
from service.api.errors import unknown_model
from service.api.ownership import model_visible, visible_models
from service.api.schemas.models import ModelList, ModelSummary
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.core.api_keys import ApiKey

router = APIRouter(prefix="/models", tags=["models"])


async def check_visible(state, name: str, caller: ApiKey) -> None:
    """404 for another owner's model, in the words used for a model that does not exist."""
    if not await model_visible(state, name, caller):
        raise unknown_model(UnknownModel(f"no model named {name!r}"))


def summary(state, name: str) -> ModelSummary:
    try:
        latest = state.models.resolve(name)
    except UnknownModel as missing:
        raise unknown_model(missing) from None
    return ModelSummary(name=name, versions=state.models.versions(name), aliases=state.models.aliases(name), latest=latest)


@router.get("", response_model=ModelList, summary="Every model the service can run")
async def list_models(state: StateDep, caller: CallerDep) -> ModelList:
    """The bundled models and the caller's own (an admin's list holds all)."""
    names = await visible_models(state, await run_in_threadpool(state.models.names), caller)
    return ModelList(models=await run_in_threadpool(lambda: [summary(state, name) for name in names]))


@router.get("/{name}", response_model=ModelSummary, responses=PROBLEM_RESPONSES, summary="One model and its versions")
async def get_model(name: str, state: StateDep, caller: CallerDep) -> ModelSummary:
    await check_visible(state, name, caller)
    return await run_in_threadpool(summary, state, name)


@router.get("/{name}/versions/{version}", response_model=Manifest, responses=PROBLEM_RESPONSES, summary="One version's manifest")
async def get_version(name: str, version: str, state: StateDep, caller: CallerDep) -> Manifest:
    await check_visible(state, name, caller)
    try:
        return state.models.resolve_cached(f"{name}:{version}")
    except UnknownModel as missing:
        raise unknown_model(missing) from None
