"""Bring your own model: upload a version, point aliases, delete a version, download the ONNX file.

POST /models/{name}/versions streams the file into the shared artifact store and queues a
`register_model` job: a worker runs the ONNX checker, compares inputs and outputs with the
manifest's signature and runs the file once in ONNX Runtime (which the API never imports)
before the version is published. The answer waits for that job (`Prefer: wait=N`, 60 s by
default): 201 with the new manifest, 422 naming each mismatch, or 202 with the job when the
checks take longer.
"""

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError

from models.manifest import Manifest
from models.store import ALIAS_NAME, UnknownModel, VersionInUse
from service.api.auth import CallerDep, RequireScope
from service.api.deps import PreferWaitDep, StateDep
from service.api.errors import Problem, unknown_model
from service.api.jobs.plan import JobPlan
from service.api.jobs.submit import submit
from service.api.model_jobs import hand_over, published_answer, staged_upload
from service.api.ownership import (
    claim_model_name,
    model_owner,
    model_visible,
    owner_visible,
    owns,
)
from service.api.schemas.model_upload import AliasRequest, ModelAliases, UploadManifest
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.state import ApiState
from service.api.upload import (
    MalformedUpload,
    UnsupportedMediaType,
    UploadTooLarge,
    receive_upload,
)
from service.core.api_keys import ApiKey
from service.core.jobs import Job, JobError

router = APIRouter(prefix="/models", tags=["models"])

# The pattern the store holds aliases to, stated in the schema (ECMA `$` is the end of the string).
AliasName = Annotated[str, Path(pattern=ALIAS_NAME.pattern, description="Lowercase letters, digits, '.', '_' or '-', "
                                "starting with a letter.", examples=["prod"])]

MAX_MANIFEST_BYTES = 64 << 10

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "manifest"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "The ONNX file, weights inside it (no external data)."},
                        "manifest": {"type": "string", "description": "UploadManifest as JSON: task and signature.",
                                     "example": '{"task": "generate", "signature": {"kind": "generator", '
                                                '"latent_dim": 64, "image_size": 28, "channels": 1, "inputs": ["z"]}}'},
                    },
                }
            }
        },
    }
}
_UPLOAD_RESPONSES = {
    **PROBLEM_RESPONSES,
    202: {"model": Job, "description": "The checks are still running: follow the job"},
    409: {**PROBLEM_RESPONSES[409], "description": "The model name belongs to someone else"},
    413: {**PROBLEM_RESPONSES[422], "description": "The file is over the size cap"},
    422: {**PROBLEM_RESPONSES[422], "description": "Bad manifest, or an ONNX file that does not match it: "
                                                   "`errors` names each mismatch"},
}


def _invalid(field: str, message: str, type_: str = "invalid") -> Problem:
    return Problem(422, "invalid-model", "The model is not valid", f"{field}: {message}",
                   errors=[{"field": field, "message": message, "type": type_}])


def _manifest_of(text: str | None) -> UploadManifest:
    if not text:
        raise _invalid("manifest", "send the manifest as a form field named `manifest` (JSON)", "missing")
    try:
        return UploadManifest.model_validate_json(text)
    except ValidationError as error:
        errors = [{"field": ".".join(["manifest", *(str(p) for p in e["loc"])]), "message": e["msg"], "type": e["type"]}
                  for e in error.errors()]
        raise Problem(422, "invalid-model", "The model is not valid", "; ".join(f"{e['field']}: {e['message']}"
                                                                                for e in errors), errors=errors) from None


async def _may_change(state: ApiState, name: str, caller: ApiKey) -> None:
    """404 for a model the caller cannot see; 403 for one it sees but may not change (bundled)."""
    owner = await model_owner(state, name)
    if not state.models.versions(name) or not owner_visible(owner, caller):
        raise unknown_model(UnknownModel(f"no model named {name!r}"))
    if not (owns(caller, owner) if owner is not None else caller.is_admin):
        raise Problem(403, "read-only-model", "Model is read-only",
                      f"{name!r} is a bundled model; only an admin key may change it")


@router.post("/{name}/versions", status_code=201, response_model=Manifest, responses=_UPLOAD_RESPONSES,
             openapi_extra=_UPLOAD_BODY, dependencies=[RequireScope("models:write")],
             summary="Upload an ONNX file as a new version (checked before it is served)")
async def upload_version(name: str, request: Request, state: StateDep, caller: CallerDep,
                         wait_s: PreferWaitDep) -> Response:
    async with staged_upload(state, name, _invalid) as folder:
        cap = state.settings.max_model_bytes
        try:
            upload = await receive_upload(request, "file", folder / "model.onnx", cap + MAX_MANIFEST_BYTES + (64 << 10),
                                          max_field_bytes=MAX_MANIFEST_BYTES)
        except UploadTooLarge:
            raise Problem(413, "model-too-large", "Model file too large",
                          f"the upload is over the {cap}-byte cap of an ONNX file") from None
        except UnsupportedMediaType:
            raise Problem(415, "unsupported-media-type", "Send multipart/form-data",
                          "send the ONNX file in a part named `file` and the manifest in a part named `manifest`") from None
        except MalformedUpload as bad:
            raise _invalid(bad.field, bad.message, "malformed") from None
        if not upload.has_file:
            raise _invalid("file", "send the ONNX file in a part named `file`", "missing")
        if (folder / "model.onnx").stat().st_size > cap:
            raise Problem(413, "model-too-large", "Model file too large", f"the ONNX file is over the {cap}-byte cap")
        manifest = _manifest_of(upload.fields.get("manifest"))
        bad_aliases = [a for a in manifest.aliases if not ALIAS_NAME.match(a) or a.isdigit()]
        if bad_aliases:
            raise _invalid("manifest.aliases", f"invalid alias(es) {bad_aliases}", "invalid_alias")
        await hand_over(state, folder)  # to the bucket, where one is used, before a worker looks
        job = await _queue_checks(state, name, folder.name, manifest, caller)
    return await published_answer(state, job, wait_s, _refusal)


async def _queue_checks(state: ApiState, name: str, token: str, manifest: UploadManifest, caller: ApiKey) -> Job:
    if state.models.versions(name):
        current = state.models.resolve_cached(name)
        if current.task != manifest.task:
            raise _invalid("manifest.task", f"{name!r} is a {current.task} model; its versions must be too", "wrong_task")
    await claim_model_name(state, name, caller)
    params = {"name": name, "upload": token, "manifest": manifest.model_dump(mode="json", exclude={"aliases"}),
              "aliases": manifest.aliases}
    return (await submit(state, JobPlan("register_model", None, params))).job


def _refusal(error: JobError, job_id: str) -> Problem | None:
    """The checks' findings, one error per mismatch."""
    if error.type != "invalid_model":
        return None
    problems = error.detail.split("; ")
    return Problem(422, "invalid-model", "The model is not valid", error.detail,
                   errors=[{"field": "file", "message": p, "type": "onnx_mismatch"} for p in problems], job_id=job_id)


@router.put("/{name}/aliases/{alias}", response_model=ModelAliases, responses=PROBLEM_RESPONSES,
            dependencies=[RequireScope("models:write")], summary="Point an alias at a version")
async def put_alias(name: str, alias: AliasName, body: AliasRequest, state: StateDep, caller: CallerDep) -> ModelAliases:
    await _may_change(state, name, caller)
    try:
        await anyio.to_thread.run_sync(state.models.set_alias, name, alias, body.version)
    except ValueError:
        raise _invalid("alias", f"{alias!r} is not an alias: lowercase letters, digits, '.', '_', '-', "
                                "starting with a letter", "invalid_alias") from None
    except UnknownModel as missing:
        raise _invalid("version", str(missing), "unknown_version") from None
    return ModelAliases(name=name, aliases=state.models.aliases(name))


@router.delete("/{name}/versions/{version}", status_code=204, responses=PROBLEM_RESPONSES,
               dependencies=[RequireScope("models:write")], summary="Delete a version no alias points at")
async def delete_version(name: str, version: int, state: StateDep, caller: CallerDep) -> Response:
    await _may_change(state, name, caller)
    try:
        await anyio.to_thread.run_sync(state.models.delete_version, name, version)
    except UnknownModel as missing:
        raise unknown_model(missing) from None
    except VersionInUse as in_use:
        raise Problem(409, "version-in-use", "Version in use", str(in_use), aliases=in_use.aliases) from None
    return Response(status_code=204)


@router.get("/{name}/versions/{version}/model.onnx", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The ONNX file"},
                       **PROBLEM_RESPONSES}, summary="Download a version's ONNX file")
async def download(name: str, version: str, state: StateDep, caller: CallerDep) -> FileResponse:
    if not await model_visible(state, name, caller):
        raise unknown_model(UnknownModel(f"no model named {name!r}"))
    try:
        manifest = state.models.resolve_cached(f"{name}:{version}")
    except UnknownModel as missing:
        raise unknown_model(missing) from None
    return FileResponse(state.models.onnx_path(manifest), media_type="application/octet-stream",
                        filename=f"{manifest.name}-{manifest.version}.onnx",
                        headers={"ETag": f'"{manifest.onnx_sha256}"'})
