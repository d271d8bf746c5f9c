"""A request's `model` reference resolved to a registered version, for every endpoint that runs one."""

from models.manifest import Manifest
from models.store import UnknownModel
from service.api.errors import Problem, unknown_model
from service.api.state import ApiState


def resolve_model(state: ApiState, ref: str, task: str) -> Manifest:
    """The manifest `ref` names (404 when there is none), checked to do `task` (422 otherwise)."""
    try:
        manifest = state.models.resolve(ref)
    except UnknownModel as missing:
        raise unknown_model(missing) from None
    if manifest.task != task:
        raise Problem(
            422, "wrong-task", "Model does not do this",
            f"{manifest.ref} is a {manifest.task} model, not a {task} model",
            errors=[{"field": "model", "message": f"not a {task} model", "type": "wrong_task"}],
        )
    return manifest
