"""Import a checkpoint the field trained: POST /models/{name}/import.

The files stream into the shared artifact store and an `import_model` job (workers/model_import.py,
on the training queue: torch reads and exports them, which the API never imports) loads them with
no code run, maps the format's parameter names onto GANForge's modules, exports to ONNX with the
parity check and registers the next version of `name`. Owned and claimed like an uploaded version
(routers/model_admin.py); the answer waits for the job the same way: 201 with the manifest, 422
naming the tensors that do not fit, or 202 with the job.
"""

import json
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from fastapi import APIRouter, Request, Response

from models.checkpoints import UnknownFormat, check_format, format_names
from models.manifest import Manifest
from service.api.auth import CallerDep, RequireScope
from service.api.deps import PreferWaitDep, StateDep
from service.api.errors import Problem, invalid
from service.api.jobs.plan import JobPlan
from service.api.jobs.submit import submit
from service.api.model_jobs import hand_over, published_answer, staged_upload
from service.api.ownership import claim_model_name
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.upload import (
    Files,
    MalformedUpload,
    UnsupportedMediaType,
    UploadTooLarge,
    receive_files,
)
from service.core.jobs import Job, JobError

router = APIRouter(prefix="/models", tags=["models"])

FILE_FIELDS = ("file", "file_b")
TEXT_FIELDS = ("format", "options")
MAX_FILES = 2  # a CycleGAN's two directions
MAX_OPTIONS_BYTES = 16 << 10
PROMOTE = ("first", "always")  # `latest` moves to the new version: only for a name's first one, or always

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "format"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "The checkpoint: a state dict saved with torch.save, or a "
                                                "safetensors file. For a CycleGAN's two generators send two "
                                                "files, either as `file` twice (A->B first) or as `file` (A->B) "
                                                "and `file_b` (B->A)."},
                        "file_b": {"type": "string", "format": "binary",
                                   "description": "Optional second checkpoint: a CycleGAN's B->A generator "
                                                  "(latest_net_G_B.pth)."},
                        "format": {"type": "string", "enum": sorted(format_names()),
                                   "description": "The project whose parameter names the checkpoint uses.",
                                   "example": "realesrgan"},
                        "options": {"type": "string",
                                    "description": "A JSON object: the format's options that the tensor shapes do "
                                                   "not decide (e.g. junyanz {\"netG\": \"unet_256\", \"norm\": "
                                                   "\"batch\"}), and `promote`: \"first\" (the default: `latest` "
                                                   "only for the name's first version) or \"always\".",
                                    "example": '{"netG": "unet_256", "norm": "batch"}'},
                    },
                }
            }
        },
    }
}
_IMPORT_RESPONSES = {
    **PROBLEM_RESPONSES,
    202: {"model": Job, "description": "The import is still running: follow the job"},
    409: {**PROBLEM_RESPONSES[409], "description": "The model name belongs to someone else"},
    413: {**PROBLEM_RESPONSES[422], "description": "A checkpoint file is over GANFORGE_MAX_CHECKPOINT_BYTES"},
    422: {**PROBLEM_RESPONSES[422], "description": "Unknown format (the known ones are listed), bad options, or a "
                                                   "checkpoint that does not fit the format: the detail names the "
                                                   "first missing, unexpected or mis-shaped tensors"},
}


@router.post("/{name}/import", status_code=201, response_model=Manifest, responses=_IMPORT_RESPONSES,
             openapi_extra=_IMPORT_BODY, dependencies=[RequireScope("models:write")],
             summary="Import a checkpoint of another project (Real-ESRGAN, pix2pix, DCGAN, ...) as a new version")
async def import_checkpoint(name: str, request: Request, state: StateDep, caller: CallerDep,
                            wait_s: PreferWaitDep) -> Response:
    async with staged_upload(state, name, invalid) as folder:
        cap = state.settings.max_checkpoint_bytes
        received = await _receive(request, folder, cap)
        format_name = _format_of(received.fields.get("format"))
        options = _options_of(received.fields.get("options"))
        promote = options.pop("promote", "first")
        if promote not in PROMOTE:
            raise invalid("options.promote", f"{promote!r} is not one of {', '.join(PROMOTE)}", "invalid_promote")
        files = _checkpoint_files(received, cap)
        await claim_model_name(state, name, caller)
        params = {"name": name, "upload": folder.name, "format": format_name, "options": options, "promote": promote,
                  "files": files}
        await hand_over(state, folder)  # to the bucket, where one is used, before a worker looks
        job = (await submit(state, JobPlan("import_model", None, params))).job
    return await published_answer(state, job, wait_s, _refusal)


async def _receive(request: Request, folder, cap: int) -> Files:
    try:
        return await receive_files(request, FILE_FIELDS, folder, MAX_FILES * cap + MAX_OPTIONS_BYTES + (64 << 10),
                                   max_files=MAX_FILES, fields=TEXT_FIELDS, max_field_bytes=MAX_OPTIONS_BYTES)
    except UploadTooLarge:
        raise _too_large(cap) from None
    except UnsupportedMediaType:
        raise Problem(415, "unsupported-media-type", "Send multipart/form-data",
                      "send the checkpoint in a part named `file` and the format in a part named `format`") from None
    except MalformedUpload as bad:
        raise invalid(bad.field, bad.message, "malformed") from None


def _too_large(cap: int) -> Problem:
    return Problem(413, "checkpoint-too-large", "Checkpoint file too large",
                   f"a checkpoint file is over the {cap}-byte cap (GANFORGE_MAX_CHECKPOINT_BYTES)")


def _format_of(text: str | None) -> str:
    known = format_names()
    if not text:
        raise Problem(422, "validation-error", "The request is not valid",
                      f"format: name the checkpoint's format, one of {', '.join(known)}", known_formats=known,
                      errors=[{"field": "format", "message": "missing", "type": "missing"}])
    try:
        check_format(text)
    except UnknownFormat as unknown:
        raise Problem(422, "unknown-format", "Unknown checkpoint format", str(unknown), known_formats=known,
                      errors=[{"field": "format", "message": str(unknown), "type": "unknown_format"}]) from None
    return text


def _options_of(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        options = json.loads(text)
    except ValueError as error:
        raise invalid("options", f"not JSON: {error}", "invalid_json") from None
    if not isinstance(options, dict):
        raise invalid("options", f"must be a JSON object, not {type(options).__name__}", "not_an_object")
    return options


def _checkpoint_files(received: Files, cap: int) -> list[dict[str, str]]:
    """The files in the order the format reads them (every `file`, then `file_b`), as the job's params."""
    ordered = sorted(received.files, key=lambda f: FILE_FIELDS.index(f.field))  # stable: `file`s keep their order
    if not any(f.field == "file" for f in ordered):
        raise invalid("file", "send the checkpoint in a part named `file`", "missing")
    if any(f.path.stat().st_size > cap for f in ordered):
        raise _too_large(cap)
    return [{"name": _plain_name(f.filename, i), "staged": f.path.name} for i, f in enumerate(ordered)]


def _plain_name(filename: str | None, index: int) -> str:
    """The client's file name without any folders (it is only recorded, never opened)."""
    plain = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()
    return plain[:200] or f"checkpoint-{index}"


def _refusal(error: JobError, job_id: str) -> Problem | None:
    if error.type == "invalid_checkpoint":
        return Problem(422, "invalid-checkpoint", "The checkpoint cannot be imported", error.detail,
                       errors=[{"field": "file", "message": error.detail, "type": "invalid_checkpoint"}], job_id=job_id)
    if error.type == "wrong_task":
        return Problem(422, "wrong-task", "The checkpoint is another task's", error.detail,
                       errors=[{"field": "format", "message": error.detail, "type": "wrong_task"}], job_id=job_id)
    return None
