"""POST /keys, GET /keys, DELETE /keys/{name}: admins manage API keys (the CLI shares the store)."""

from fastapi import APIRouter, Response

from service.api.auth import RequireScope
from service.api.deps import StateDep
from service.api.errors import Problem, invalid
from service.api.schemas.api_keys import KeyCreate, KeyCreated, KeyInfo, KeyList
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.core.api_keys import InvalidKeySpec, KeyExists

router = APIRouter(prefix="/keys", tags=["keys"], dependencies=[RequireScope("admin")], responses=PROBLEM_RESPONSES)


@router.post("", response_model=KeyCreated, status_code=201, summary="Create an API key (answered once)")
def create_key(request: KeyCreate, state: StateDep, response: Response) -> KeyCreated:
    try:
        key, record = state.api_keys.create(request.name, list(request.scopes), owner=request.owner, rate=request.rate)
    except InvalidKeySpec as error:
        raise invalid(error.field, error.message) from None
    except KeyExists as error:
        raise Problem(409, "key-exists", "Key name taken", str(error)) from None
    response.headers["Location"] = f"/keys/{record.name}"
    response.headers["Cache-Control"] = "no-store"
    return KeyCreated(**record.to_json(), key=key)


@router.get("", response_model=KeyList, summary="Every key's name, owner, scopes and rate (never the key)")
def list_keys(state: StateDep) -> KeyList:
    return KeyList(keys=[KeyInfo(**record.to_json()) for record in state.api_keys.records()])


@router.delete("/{name}", status_code=204, summary="Revoke a key")
def revoke_key(name: str, state: StateDep) -> Response:
    if not state.api_keys.revoke(name):
        raise Problem(404, "unknown-key", "Unknown key", f"no key named {name!r}")
    return Response(status_code=204)
