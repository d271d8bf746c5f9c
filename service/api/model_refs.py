"""A request's `model` reference resolved to a registered version, for every endpoint that runs one.

Manifests come from memory (ModelStore.resolve_cached: a few stat() calls), owners from the event
loop's Redis client. A job's own path (jobs/submit.py) reads the owner with its first round trip
instead; this is for the checks that come before a job is planned (an upscale's output size,
refused before its image is decoded).
"""

from models.manifest import Manifest
from models.store import UnknownModel
from service.api.caller import current_caller
from service.api.errors import Problem, unknown_model
from service.api.ownership import model_owner, owner_visible
from service.api.state import ApiState


async def resolve_model(state: ApiState, ref: str, task: str) -> Manifest:
    """The manifest `ref` names (404 when there is none, or it is another owner's), checked to do
    `task` (422 otherwise)."""
    name = ref.partition(":")[0]
    caller = current_caller()
    if caller is None or not owner_visible(await model_owner(state, name), caller):  # as if there were none
        raise unknown_model(UnknownModel(f"no model named {name!r}"))
    try:
        manifest = state.models.resolve_cached(ref)
    except UnknownModel as missing:
        raise unknown_model(missing) from None
    check_task(manifest, task)
    return manifest


def check_task(manifest: Manifest, task: str) -> None:
    if manifest.task != task:
        raise Problem(
            422, "wrong-task", "Model does not do this",
            f"{manifest.ref} is a {manifest.task} model, not a {task} model",
            errors=[{"field": "model", "message": f"not a {task} model", "type": "wrong_task"}],
        )
