"""Open Inference Protocol v2 over REST (KServe / Triton): health, metadata and infer.

An infer request is a job like any other ("infer"): its input tensors are stored as one blob,
the job goes through the inference queue to a worker, whose generator runs share the dynamic
batcher with /generate, and the answer is read back from the job's output blob. The API waits
for the job as `Prefer: wait` does, on the event hub, holding no thread.
"""

import hashlib
from dataclasses import dataclass
from functools import partial

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from models.inference.tensor_specs import (
    DEFAULT_DIRECTION,
    UnknownDirection,
    tensor_signature,
)
from models.inference.tensors import TensorBlobError, pack_tensors, unpack_tensors
from models.manifest import Manifest, TranslatorSignature
from models.store import UnknownModel
from service.api.auth import RequireScope
from service.api.caller import current_caller
from service.api.deps import StateDep
from service.api.errors import Problem
from service.api.jobs.cache import request_digest
from service.api.jobs.plan import JobPlan
from service.api.jobs.submit import submit_on_model
from service.api.oip_tensors import (
    HEADER_LENGTH,
    check_pixel_budget,
    decode_inputs,
    encode_response,
    oip_error,
    parse_body,
    requested_outputs,
)
from service.api.outputs_from_store import stored_bytes
from service.api.ownership import model_visible
from service.api.schemas.oip_v2 import (
    InferRequest,
    InferResponse,
    MetadataTensor,
    ModelMetadata,
    ServerMetadata,
)
from service.api.state import ApiState
from service.core.jobs import Job, JobStatus, ModelRef
from service.core.presence import live_workers
from service.core.routing import INFERENCE_QUEUE

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"], dependencies=[RequireScope("infer")])

OUTPUT_NAME = "tensors.bin"
OUTPUT_TYPE = "application/x-ganforge-tensors"
DEFAULT_TIMEOUT_S = 60.0
MAX_BODY_BYTES = 64 << 20  # a batch of images as JSON numbers is ~10x its binary size
_ERROR_RESPONSES = {
    400: {"description": "Bad tensors: the `error` member says which and why"},
    404: {"description": "Unknown model or version"},
}
# Health answers are the status alone, as the protocol has them: no body to document.
_EMPTY_200 = {200: {"description": "Yes (an empty body; any other status means no)", "content": {}}}
_NOT_READY = {503: {"description": "Not ready: the `error` member says why",
                    "content": {"application/problem+json": {}}}}


def _unknown(missing: UnknownModel) -> Problem:
    return oip_error(404, str(missing), "unknown-model")


async def resolve(state: ApiState, name: str, version: str | None) -> Manifest:
    caller = current_caller()
    if caller is None or not await model_visible(state, name, caller):  # another owner's: as if there were none
        raise _unknown(UnknownModel(f"no model named {name!r}"))
    try:
        return state.models.resolve_cached(_ref(name, version))
    except UnknownModel as missing:
        raise _unknown(missing) from None


def _ref(name: str, version: str | None) -> str:
    return f"{name}:{version}" if version else name


# -- server ------------------------------------------------------------------------------------


@router.get("", response_model=ServerMetadata, summary="Server metadata")
def server_metadata() -> ServerMetadata:
    return ServerMetadata(name="ganforge", version="0.1.0", extensions=["binary_tensor_data"])


@router.get("/health/live", summary="Liveness (OIP v2)", response_class=Response, responses=_EMPTY_200)
def live() -> Response:
    return Response(status_code=200)


@router.get("/health/ready", summary="Readiness (OIP v2): Redis answers and a worker consumes the inference queue",
            response_class=Response, responses={**_EMPTY_200, **_NOT_READY})
def ready(state: StateDep) -> Response:
    state.redis.ping()
    if not any(INFERENCE_QUEUE in w["queues"] for w in live_workers(state.redis)):
        raise oip_error(503, f"no live worker consumes the {INFERENCE_QUEUE!r} queue", "no-worker")
    return Response(status_code=200)


# -- models ------------------------------------------------------------------------------------


async def metadata(state: ApiState, name: str, version: str | None) -> ModelMetadata:
    manifest = await resolve(state, name, version)
    spec = tensor_signature(manifest)
    parameters = {"version": str(manifest.version), "task": manifest.task}
    if isinstance(manifest.signature, TranslatorSignature):
        parameters["directions"] = sorted(manifest.signature.directions)
    return ModelMetadata(
        name=manifest.name,
        versions=[str(v) for v in state.models.versions(manifest.name)],
        platform="onnxruntime_onnx",
        inputs=[MetadataTensor(name=s.name, datatype=s.datatype, shape=list(s.shape)) for s in spec.inputs],
        outputs=[MetadataTensor(name=s.name, datatype=s.datatype, shape=list(s.shape)) for s in spec.outputs],
        parameters=parameters,
    )


@router.get("/models/{name}", response_model=ModelMetadata, responses=_ERROR_RESPONSES, summary="Model metadata")
async def model_metadata(name: str, state: StateDep) -> ModelMetadata:
    return await metadata(state, name, None)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=_ERROR_RESPONSES,
            summary="Model version metadata")
async def version_metadata(name: str, version: str, state: StateDep) -> ModelMetadata:
    return await metadata(state, name, version)


async def readiness(state: ApiState, name: str, version: str | None) -> Response:
    manifest = await resolve(state, name, version)
    if not state.models.onnx_path(manifest).is_file():
        raise oip_error(400, f"{manifest.ref} has no ONNX file", "model-not-ready")
    return Response(status_code=200)


@router.get("/models/{name}/ready", response_class=Response, responses={**_ERROR_RESPONSES, **_EMPTY_200},
            summary="Model readiness")
async def model_ready(name: str, state: StateDep) -> Response:
    return await readiness(state, name, None)


@router.get("/models/{name}/versions/{version}/ready", response_class=Response,
            responses={**_ERROR_RESPONSES, **_EMPTY_200}, summary="Model version readiness")
async def version_ready(name: str, version: str, state: StateDep) -> Response:
    return await readiness(state, name, version)


# -- infer -------------------------------------------------------------------------------------

def _inlined(schema: dict, defs: dict | None = None):
    """A JSON schema with its `$defs` references written out in place (the body is read raw, so
    FastAPI does not put InferRequest among the OpenAPI components)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inlined(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(item, defs) for item in schema]
    return schema


_INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inlined(InferRequest.model_json_schema())},
            "application/octet-stream": {
                "schema": {"type": "string", "format": "binary",
                           "description": f"The JSON request ({HEADER_LENGTH} bytes), then the binary tensors."}
            },
        },
    }
}


@router.post("/models/{name}/infer", response_model=InferResponse, responses=_ERROR_RESPONSES,
             openapi_extra=_INFER_BODY, summary="Infer (OIP v2)")
async def infer(name: str, request: Request, state: StateDep) -> Response:
    return await run_infer(state, request, name, None)


@router.post("/models/{name}/versions/{version}/infer", response_model=InferResponse, responses=_ERROR_RESPONSES,
             openapi_extra=_INFER_BODY, summary="Infer on a version (OIP v2)")
async def infer_version(name: str, version: str, request: Request, state: StateDep) -> Response:
    return await run_infer(state, request, name, version)


async def read_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise oip_error(413, f"the request body is over {MAX_BODY_BYTES} bytes; send fewer rows", "body-too-large")
    return bytes(body)


async def run_infer(state: ApiState, request: Request, name: str, version: str | None) -> Response:
    body = await read_body(request)
    header_length = request.headers.get(HEADER_LENGTH)
    checked: list[Checked] = []

    async def plan_of(manifest: Manifest) -> JobPlan:
        # Parsing and decoding tensors costs CPU in proportion to the body: in a worker thread.
        checked.append(await anyio.to_thread.run_sync(partial(check, state, manifest, body, header_length)))
        return checked[0].plan

    submitted = await submit_on_model(state, _ref(name, version), plan_of, not_found=_unknown)
    job, infer = submitted.job, checked[0]
    timeout = _timeout(infer.request, state.settings.max_wait_s)
    if not job.status.is_terminal:
        job = await state.hub.wait(job.id, timeout) or job
    if not job.status.is_terminal:
        raise oip_error(504, f"inference did not finish within {timeout:g} s; job {job.id} goes on", "timeout")
    if job.status != JobStatus.succeeded:
        detail = job.error.detail if job.error else f"the job was {job.status.value}"
        status = 500 if job.error and job.error.type == "internal" else 400
        raise oip_error(status, detail, "inference-failed")
    output = next((o for o in job.outputs if o.name == OUTPUT_NAME), None)
    if output is not None and output.stored:  # large tensors: in the artifact store, not Redis
        blob = await anyio.to_thread.run_sync(stored_bytes, state, output)
    else:
        blob = await state.jobs_async.get_blob(output.sha256) if output is not None else None
    if blob is None:
        raise oip_error(410, f"the outputs of job {job.id} expired; send the request again", "output-expired")
    return await anyio.to_thread.run_sync(partial(answer, job, infer, blob))


def _timeout(request: InferRequest, max_wait_s: float) -> float:
    wanted = (request.parameters or {}).get("timeout", DEFAULT_TIMEOUT_S)
    if not isinstance(wanted, (int, float)) or wanted <= 0:
        raise oip_error(400, f"parameter timeout {wanted!r} is not a positive number of seconds")
    return min(float(wanted), max_wait_s)


@dataclass
class Checked:
    """An infer request checked against its model's tensors, and the job it plans."""

    request: InferRequest
    outputs: list[str]
    binary: set[str]
    plan: JobPlan


def check(state: ApiState, manifest: Manifest, body: bytes, header_length: str | None) -> Checked:
    """Check the request against the model's tensors and plan its job (answered from the cache, or queued)."""
    infer_request, binary_part = parse_body(body, header_length)
    _timeout(infer_request, state.settings.max_wait_s)
    direction = (infer_request.parameters or {}).get("direction", DEFAULT_DIRECTION)
    try:
        spec = tensor_signature(manifest, str(direction))
    except UnknownDirection as unknown:
        raise oip_error(400, str(unknown)) from None
    arrays = decode_inputs(infer_request, binary_part, spec)
    check_pixel_budget(arrays, spec, state.settings.max_input_pixels, state.settings.max_output_pixels)
    outputs, binary = requested_outputs(infer_request, spec)
    # Ordered as the signature, whatever order the client sent them in: one blob per content.
    tensors = pack_tensors({s.name: arrays[s.name] for s in spec.inputs})
    inputs_sha256 = hashlib.sha256(tensors).hexdigest()
    model = ModelRef(name=manifest.name, version=manifest.version)
    params = {"inputs_sha256": inputs_sha256, "outputs": outputs, "direction": str(direction)}
    digest = request_digest("infer", model, params)  # the same tensors through the same version: the same answer
    plan = JobPlan("infer", model, params, digest=digest, task_kwargs={"cache_digest": digest},
                   inputs={inputs_sha256: tensors})
    return Checked(infer_request, outputs, binary, plan)


def answer(job: Job, infer: Checked, blob: bytes) -> Response:
    """The finished job's output tensors, as the client asked for them (JSON or binary)."""
    try:
        tensors = unpack_tensors(blob)
    except TensorBlobError as broken:
        raise oip_error(500, f"job {job.id} left unreadable outputs: {broken}", "internal") from None
    response = InferResponse(
        model_name=job.model.name, model_version=str(job.model.version), id=infer.request.id,
        parameters={"job_id": job.id, "cached": job.cached}, outputs=[],
    )
    body, header_length = encode_response(response, {name: tensors[name] for name in infer.outputs}, infer.binary)
    if header_length is None:
        return Response(body, media_type="application/json")
    return Response(body, media_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)})
