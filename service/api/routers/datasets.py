"""POST /datasets (upload an archive), GET /datasets, GET/DELETE /datasets/{id}, its preview."""

import secrets
from dataclasses import asdict

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from service.api.auth import CallerDep, RequireScope
from service.api.dataset_refs import DatasetsDep, find_dataset
from service.api.deps import StateDep
from service.api.errors import Problem, unknown_dataset, validation_problem
from service.api.ownership import (
    forget_dataset_owner,
    set_dataset_owner,
    visible_datasets,
)
from service.api.schemas.datasets import DatasetInfo, DatasetList
from service.api.schemas.problem import PROBLEM_RESPONSES
from service.api.upload import (
    MalformedUpload,
    UnsupportedMediaType,
    UploadTooLarge,
    receive_upload,
)
from training.data.archive_check import ArchiveRejected
from training.data.layouts import LAYOUTS
from training.data.store import (
    DATASET_NAME,
    BuiltinReadOnly,
    DatasetRecord,
    UnknownDataset,
)

router = APIRouter(prefix="/datasets", tags=["datasets"], dependencies=[RequireScope("datasets")])


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "layout"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "A .zip, .tar, .tar.gz, .tar.bz2 or .tar.xz archive of images."},
                        "layout": {"type": "string", "enum": list(LAYOUTS), "example": "classes",
                                   "description": "images: a flat folder; classes: one folder per class; "
                                                  "unpaired: A/ and B/; paired: A/ and B/ with the same file names, "
                                                  "or a flat folder of side-by-side AB images."},
                        "name": {"type": "string", "maxLength": 64, "example": "pets",
                                 "description": "Optional name to recognise the dataset by."},
                    },
                }
            }
        },
    }
}
_DATASET_RESPONSES = {
    **PROBLEM_RESPONSES,
    404: {**PROBLEM_RESPONSES[404], "description": "Unknown dataset"},
    409: {**PROBLEM_RESPONSES[409], "description": "Built-in datasets cannot be deleted"},
    413: {**PROBLEM_RESPONSES[422], "description": "Upload, archive contents or compression ratio over the limits"},
    415: {**PROBLEM_RESPONSES[422], "description": "The body is not multipart/form-data"},
    422: {**PROBLEM_RESPONSES[422], "description": "Bad layout, broken or unsafe archive, images that do not decode: "
                                                   "`errors` names each failing file as `file:<path>`"},
}


def _info(record: DatasetRecord) -> DatasetInfo:
    return DatasetInfo(**asdict(record), preview_url=f"/datasets/{record.id}/preview.png")


def _rejected(rejection: ArchiveRejected) -> Problem:
    errors = [
        {"field": f"file:{e.path}" if e.path else "layout", "message": e.message, "type": e.type}
        for e in rejection.errors
    ]
    return Problem(rejection.status, rejection.type, rejection.title, rejection.detail, errors=errors)


def _form(upload) -> tuple[str, str | None]:
    errors = []
    if not upload.has_file:
        errors.append({"field": "file", "message": "attach the archive as the `file` part", "type": "missing"})
    layout = upload.fields.get("layout")
    if layout not in LAYOUTS:
        errors.append({"field": "layout", "type": "enum" if layout else "missing",
                       "message": f"one of {', '.join(LAYOUTS)}" + (f", not {layout!r}" if layout else "")})
    name = upload.fields.get("name") or None
    if name is not None and not DATASET_NAME.match(name):
        errors.append({"field": "name", "type": "string_pattern_mismatch",
                       "message": "1 to 64 letters, digits, spaces and . ( ) + - _"})
    if errors:
        raise validation_problem(errors)
    return layout, name


@router.post(
    "", response_model=DatasetInfo, status_code=201, responses=_DATASET_RESPONSES, openapi_extra=_UPLOAD_BODY,
    summary="Upload a dataset as a zip or tar archive",
)
async def create_dataset(request: Request, response: Response, state: StateDep, store: DatasetsDep,
                         caller: CallerDep) -> DatasetInfo:
    """Every entry is checked before the dataset is accepted: paths stay inside it (no `..`,
    absolute paths or links), file count, unpacked size and compression ratio are bounded, and
    every image decodes. A refused upload leaves nothing behind and names each failing file."""
    incoming = store.root / ".uploads"
    incoming.mkdir(parents=True, exist_ok=True)
    archive = incoming / secrets.token_hex(8)
    limit = state.settings.max_upload_bytes
    try:
        try:
            upload = await receive_upload(request, "file", archive, limit, fields=("layout", "name"),
                                          file_label="the archive")
        except UploadTooLarge:
            raise Problem(413, "upload-too-large", "Upload too large", f"uploads are limited to {limit} bytes") from None
        except UnsupportedMediaType as error:
            raise Problem(415, "unsupported-media-type", "Send multipart/form-data", str(error)) from None
        except MalformedUpload as error:
            raise validation_problem([{"field": error.field, "message": error.message, "type": "malformed"}]) from None
        layout, name = _form(upload)
        record = await anyio.to_thread.run_sync(store.create, archive, layout, name, upload.filename)
    except ArchiveRejected as rejection:
        raise _rejected(rejection) from None
    finally:
        archive.unlink(missing_ok=True)
    await set_dataset_owner(state, record.id, caller)
    response.headers["Location"] = f"/datasets/{record.id}"
    return _info(record)


@router.get("", response_model=DatasetList, summary="Built-in datasets and uploads")
async def list_datasets(state: StateDep, store: DatasetsDep, caller: CallerDep) -> DatasetList:
    """The built-in datasets and the caller's own uploads (an admin's list holds every upload)."""
    records = await visible_datasets(state, await anyio.to_thread.run_sync(store.records), caller)
    return DatasetList(datasets=[_info(r) for r in records])


@router.get("/{dataset_id}", response_model=DatasetInfo, responses=_DATASET_RESPONSES, summary="One dataset")
async def get_dataset(dataset_id: str, state: StateDep, store: DatasetsDep) -> DatasetInfo:
    return _info(await find_dataset(state, store, dataset_id))


@router.get(
    "/{dataset_id}/preview.png", response_class=FileResponse, responses={**_DATASET_RESPONSES, 200: {"content": {"image/png": {}}}},
    summary="A contact sheet of the dataset's images",
)
async def get_preview(dataset_id: str, state: StateDep, store: DatasetsDep) -> FileResponse:
    await find_dataset(state, store, dataset_id)
    try:  # a built-in's contact sheet is drawn on first use: in a worker thread
        return FileResponse(await anyio.to_thread.run_sync(store.preview, dataset_id), media_type="image/png")
    except UnknownDataset as error:
        raise unknown_dataset(error) from None


@router.delete("/{dataset_id}", status_code=204, responses=_DATASET_RESPONSES, summary="Delete an uploaded dataset")
async def delete_dataset(dataset_id: str, state: StateDep, store: DatasetsDep) -> Response:
    await find_dataset(state, store, dataset_id)  # another owner's: 404, and nothing deleted
    try:
        await anyio.to_thread.run_sync(store.delete, dataset_id)
    except UnknownDataset as error:
        raise unknown_dataset(error) from None
    except BuiltinReadOnly as error:
        raise Problem(409, "builtin-dataset", "Built-in datasets cannot be deleted", str(error)) from None
    await forget_dataset_owner(state, dataset_id)
    return Response(status_code=204)
