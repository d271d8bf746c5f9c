"""Every operation of the SDK, written once as a generator of `Call`s and `WaitFor`s.

A flow yields what it needs done and gets back the answer (an httpx.Response for a Call, the
final Job for a WaitFor); errors are thrown into it. The sync Client and the AsyncClient drive
the same flows with their own I/O, so the two cannot drift apart.
"""

import json
import time
from pathlib import Path
from typing import Any

from PIL import Image

from ganforge._archives import (
    archive_content_type,
    archive_members,
    folder_paths,
    guess_layout,
    zip_folder,
)
from ganforge._calls import JOB_ID_HEADER, Call, FilePart, Flow, WaitFor, create_headers
from ganforge._images import (
    IMAGE_TYPES,
    ImageInput,
    data_uri_bytes,
    decode_image,
    image_part,
)
from ganforge.errors import JobCanceled, JobFailed
from ganforge.progress import JobProgress
from ganforge.types import Dataset, Job, JobPage, JobStatus, Manifest, ModelSummary

PREFER_WAIT_S = 60.0  # per request; a longer wait goes on over the job's event stream
READ_MARGIN_S = 30.0  # a request that waits on the server may take this much longer to answer


class Deadline:
    def __init__(self, timeout_s: float | None):
        self.timeout_s = timeout_s
        self._end = None if timeout_s is None else time.monotonic() + timeout_s

    def remaining(self) -> float | None:
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def prefer_wait(self) -> float:
        remaining = self.remaining()
        return PREFER_WAIT_S if remaining is None else max(0.0, min(remaining, PREFER_WAIT_S))


def _compact(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def job_of(response) -> Job:
    return Job.model_validate(response.json())


# -- jobs ----------------------------------------------------------------------------------------


def finished(job: Job, deadline: Deadline, progress: JobProgress | None = None, *, check: bool = True) -> Flow[Job]:
    """The job once it ended; with `check`, JobFailed / JobCanceled unless it succeeded."""
    if not job.is_terminal:
        job = yield WaitFor(job.id, deadline.remaining(), progress)
    if check and job.status == JobStatus.failed:
        raise JobFailed(job)
    if check and job.status == JobStatus.canceled:
        raise JobCanceled(job)
    return job


def output_bytes(job: Job, name: str | None = None) -> Flow[list[bytes]]:
    """The bytes of the job's outputs (all of them, or the one named), inline ones without a request."""
    chosen = [o for o in job.outputs if name is None or o.name == name]
    if name is not None and not chosen:
        raise KeyError(f"job {job.id} has no output {name!r}")
    blobs = []
    for output in chosen:
        if output.data_uri:
            blobs.append(data_uri_bytes(output.data_uri))
        else:
            blobs.append((yield Call("GET", output.url)).content)
    return blobs


def job_images(job: Job) -> Flow[list[Image.Image]]:
    outputs = [o for o in job.images if not o.name.startswith("sample-")]
    images = []
    for output in outputs:
        (data,) = yield from output_bytes(job, output.name)
        images.append(decode_image(data, job.id))
    return images


def get_job(job_id: str) -> Flow[Job]:
    return job_of((yield Call("GET", f"/jobs/{job_id}")))


def list_jobs(kind: str | None, status: str | None, limit: int | None, cursor: str | None) -> Flow[JobPage]:
    params = _compact(kind=kind, status=status, limit=limit, cursor=cursor)
    return JobPage.model_validate((yield Call("GET", "/jobs", params=params)).json())


def cancel_job(job_id: str) -> Flow[Job]:
    return job_of((yield Call("POST", f"/jobs/{job_id}/cancel")))


def wait_job(job_id: str, timeout_s: float | None, progress: bool) -> Flow[Job]:
    """The job once it ended, whatever its status (no JobFailed): a wait only waits."""
    job = yield from get_job(job_id)
    watcher = JobProgress(f"{job.kind} {job.id[:8]}", enabled=progress) if progress else None
    return (yield from finished(job, Deadline(timeout_s), watcher, check=False))


# -- inference: one call for an image ---------------------------------------------------------


def _image_answer(response, deadline: Deadline) -> Flow[list[Image.Image]]:
    """The images an inference request answered with: its bytes (one-call answer), inline data
    URIs, or outputs fetched after the job ended."""
    if response.headers.get("content-type", "").startswith("image/"):
        return [decode_image(response.content, response.headers.get(JOB_ID_HEADER))]
    job = yield from finished(job_of(response), deadline)
    return (yield from job_images(job))


def _inference_headers(deadline: Deadline, idempotency_key, accept: str | None) -> tuple[dict[str, str], float]:
    wait = deadline.prefer_wait()
    headers = create_headers(idempotency_key, Prefer=f"wait={wait:g}")
    if accept:
        headers["Accept"] = accept
    return headers, wait + READ_MARGIN_S


def generate_body(model: str, n: int, fields: dict[str, Any]) -> dict[str, Any]:
    """POST /generate's JSON from the SDK's arguments (the same names): unset ones left out, one
    label as a list, nested parameters (StyleMixing, Interpolation or dicts) as objects."""
    fields = dict(fields)
    if isinstance(fields.get("labels"), int):
        fields["labels"] = [fields["labels"]]
    for name in ("style_mixing", "interpolate"):
        if hasattr(fields.get(name), "model_dump"):
            fields[name] = fields[name].model_dump(exclude_none=True)
    fields["grid"] = fields.get("grid") or None  # the server's default
    return _compact(model=model, n=n, **fields)


def generate(model: str, *, n: int, timeout_s: float | None, idempotency_key: str | bool | None,
             **fields: Any) -> Flow[list[Image.Image]]:
    """n=1 (or a grid) asks for the picture itself in one call; more images, or a walk's frames and
    animation, come inline as data URIs."""
    deadline = Deadline(timeout_s)
    body = generate_body(model, n, fields)
    one_picture = body.get("grid") or (n == 1 and not body.get("interpolate"))
    if not one_picture:
        body["inline"] = True
    accept = IMAGE_TYPES[body.get("format", "png")] if one_picture else None
    headers, read_s = _inference_headers(deadline, idempotency_key, accept)
    response = yield Call("POST", "/generate", json=body, headers=headers, read_timeout_s=read_s)
    return (yield from _image_answer(response, deadline))


def translate(image: ImageInput, model: str, *, direction: str, format: str, resize: str,
              timeout_s: float | None, idempotency_key: str | bool | None) -> Flow[Image.Image]:
    deadline = Deadline(timeout_s)
    headers, read_s = _inference_headers(deadline, idempotency_key, IMAGE_TYPES[format])
    fields = {"model": model, "direction": direction, "format": format, "resize": resize}
    response = yield Call("POST", "/translate", data=fields, files={"image": image_part(image)}, headers=headers,
                          read_timeout_s=read_s)
    (result,) = yield from _image_answer(response, deadline)
    return result


def upscale(image: ImageInput, model: str, *, outscale: float | None, tile: int | None, tile_overlap: int | None,
            format: str, timeout_s: float | None, idempotency_key: str | bool | None) -> Flow[Image.Image]:
    deadline = Deadline(timeout_s)
    headers, read_s = _inference_headers(deadline, idempotency_key, IMAGE_TYPES[format])
    fields = {k: str(v) for k, v in _compact(model=model, outscale=outscale, tile=tile, tile_overlap=tile_overlap,
                                             format=format).items()}
    response = yield Call("POST", "/upscale", data=fields, files={"image": image_part(image)}, headers=headers,
                          read_timeout_s=read_s)
    (result,) = yield from _image_answer(response, deadline)
    return result


# -- training and evaluation --------------------------------------------------------------------


def train(architecture: str, dataset: str, model_name: str, *, follow: bool, progress: bool,
          timeout_s: float | None, idempotency_key: str | bool | None, **options: Any) -> Flow[Manifest | Job]:
    """Queue a training job; with `follow`, follow it to the end and answer the version it registered."""
    body = _compact(architecture=architecture, dataset=dataset, model_name=model_name, **options)
    response = yield Call("POST", "/train", json=body, headers=create_headers(idempotency_key))
    job = job_of(response)
    if not follow:
        return job
    watcher = JobProgress(f"train {model_name}", enabled=progress)
    job = yield from finished(job, Deadline(timeout_s), watcher)
    if job.model is None:
        raise JobFailed(job)
    return (yield from model_version(job.model.name, job.model.version))


def evaluate(model: str, *, dataset: str | None, n_samples: int | None, extractor: str | None, seed: int | None,
             wait: bool, timeout_s: float | None, idempotency_key: str | bool | None) -> Flow[Job]:
    body = _compact(model=model, dataset=dataset, n_samples=n_samples, extractor=extractor, seed=seed)
    response = yield Call("POST", "/evaluate", json=body, headers=create_headers(idempotency_key))
    job = job_of(response)
    return (yield from finished(job, Deadline(timeout_s))) if wait else job


# -- models ---------------------------------------------------------------------------------------


def list_models() -> Flow[list[ModelSummary]]:
    answer = (yield Call("GET", "/models")).json()
    return [ModelSummary.model_validate(m) for m in answer["models"]]


def get_model(name: str) -> Flow[ModelSummary]:
    return ModelSummary.model_validate((yield Call("GET", f"/models/{name}")).json())


def model_version(name: str, version: int | str) -> Flow[Manifest]:
    return Manifest.model_validate((yield Call("GET", f"/models/{name}/versions/{version}")).json())


def upload_model(name: str, onnx: str | Path | bytes, manifest: dict[str, Any] | str | Path,
                 timeout_s: float | None) -> Flow[Manifest]:
    """POST /models/{name}/versions: the ONNX file (part `file`) and its manifest (form field
    `manifest`: task, signature, ...). The service checks it in a job; answers the registered version."""
    onnx_part = FilePart("model.onnx", onnx if isinstance(onnx, bytes) else Path(onnx), "application/octet-stream")
    if isinstance(manifest, (str, Path)):
        manifest = json.loads(Path(manifest).read_text())
    deadline = Deadline(timeout_s)
    response = yield Call("POST", f"/models/{name}/versions", files={"file": onnx_part},
                          data={"manifest": json.dumps(manifest)},
                          headers={"Prefer": f"wait={deadline.prefer_wait():g}"},
                          read_timeout_s=deadline.prefer_wait() + READ_MARGIN_S)
    if response.status_code == 201:
        return Manifest.model_validate(response.json())
    job = yield from finished(job_of(response), deadline)  # still being checked: follow the check
    registered = job.metrics.get("registered") or {}
    return (yield from model_version(registered.get("name", name), registered["version"]))


def import_checkpoint(name: str, checkpoint: str | Path | bytes, checkpoint_b: str | Path | bytes | None, format: str,
                      options: dict[str, Any] | None, timeout_s: float | None) -> Flow[Manifest]:
    """POST /models/{name}/import: another project's checkpoint (part `file`, a CycleGAN's second
    direction in `file_b`), its `format` and `options` (JSON). The service converts, exports and
    checks it in a job; answers the registered version."""
    files = {"file": _checkpoint_part(checkpoint, "checkpoint.pth")}
    if checkpoint_b is not None:
        files["file_b"] = _checkpoint_part(checkpoint_b, "checkpoint_b.pth")
    data = {"format": format, **({"options": json.dumps(options)} if options else {})}
    deadline = Deadline(timeout_s)
    response = yield Call("POST", f"/models/{name}/import", files=files, data=data,
                          headers={"Prefer": f"wait={deadline.prefer_wait():g}"},
                          read_timeout_s=deadline.prefer_wait() + READ_MARGIN_S)
    if response.status_code == 201:
        return Manifest.model_validate(response.json())
    job = yield from finished(job_of(response), deadline)  # still converting: follow the job
    registered = job.metrics.get("registered") or {}
    return (yield from model_version(registered.get("name", name), registered["version"]))


def _checkpoint_part(source: str | Path | bytes, default_name: str) -> FilePart:
    """A path keeps its file name (recorded in the version's provenance)."""
    if isinstance(source, bytes):
        return FilePart(default_name, source)
    return FilePart(Path(source).name, Path(source))


def set_alias(name: str, alias: str, version: int) -> Flow[dict[str, int]]:
    response = yield Call("PUT", f"/models/{name}/aliases/{alias}", json={"version": version})
    return response.json()["aliases"]


def delete_version(name: str, version: int) -> Flow[None]:
    yield Call("DELETE", f"/models/{name}/versions/{version}")


def download_model(name: str, version: int | str) -> Flow[bytes]:
    return (yield Call("GET", f"/models/{name}/versions/{version}/model.onnx")).content


# -- datasets -------------------------------------------------------------------------------------


def upload_dataset(path: str | Path, layout: str | None, name: str | None) -> Flow[Dataset]:
    """A folder is zipped first; the layout is guessed from the paths when not given."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no dataset folder or archive at {path}")
    if path.is_dir():
        layout = layout or guess_layout(folder_paths(path))
        archive, filename, temporary = zip_folder(path), f"{path.name}.zip", True
    else:
        layout = layout or guess_layout(archive_members(path))
        archive, filename, temporary = path, path.name, False
    try:
        fields = _compact(layout=layout, name=name)
        part = FilePart(filename, archive, archive_content_type(Path(filename)))
        response = yield Call("POST", "/datasets", data=fields, files={"file": part})
    finally:
        if temporary:
            archive.unlink(missing_ok=True)
    return Dataset.model_validate(response.json())


def list_datasets() -> Flow[list[Dataset]]:
    return [Dataset.model_validate(d) for d in (yield Call("GET", "/datasets")).json()["datasets"]]


def get_dataset(dataset_id: str) -> Flow[Dataset]:
    return Dataset.model_validate((yield Call("GET", f"/datasets/{dataset_id}")).json())


def delete_dataset(dataset_id: str) -> Flow[None]:
    yield Call("DELETE", f"/datasets/{dataset_id}")
