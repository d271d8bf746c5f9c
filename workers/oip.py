"""The infer task: Open Inference Protocol tensors through a model version's ONNX session.

The API checked the tensors against the version's signature and stored them as one blob; the
task feeds them to the session (a generator's through the dynamic batcher that /generate rides,
an image network's directly, as its sizes vary) and stores the requested outputs as one blob.
"""

import time

from models.inference.tensor_specs import (
    UINT8_SUFFIX,
    as_uint8_images,
    tensor_signature,
)
from models.inference.tensors import TensorBlobError, pack_tensors, unpack_tensors
from models.manifest import GeneratorSignature
from service.core.jobs import Job
from workers.context import WorkerContext
from workers.job_io import job_input_bytes, job_manifest, job_outputs
from workers.job_runner import JobFailed, JobResult, job_task

OUTPUT_NAME = "tensors.bin"  # what the API reads back (service/api/routers/oip_v2.py)
OUTPUT_TYPE = "application/x-ganforge-tensors"


@job_task("infer")
def infer(context: WorkerContext, job: Job, cache_digest: str | None = None) -> JobResult:
    """Tensors in, tensors out. Safe to run twice: the inputs are fixed by their digest."""
    params = job.params
    manifest = job_manifest(context, job)
    spec = tensor_signature(manifest, params["direction"])
    blob = job_input_bytes(context, job, "inputs_sha256")
    if blob is None:
        raise JobFailed("input_expired", "the input tensors expired before a worker took the job; send them again")
    try:
        feeds = unpack_tensors(blob)
    except TensorBlobError as broken:
        raise JobFailed("invalid_input", f"unreadable input tensors: {broken}") from None
    loaded = context.sessions.get(manifest, context.models.onnx_path(manifest).with_name(spec.onnx_file))
    started = time.perf_counter()
    try:
        if isinstance(manifest.signature, GeneratorSignature):
            output, batch_images = loaded.run(feeds)  # shares batches with /generate
        else:
            output = loaded.infer(feeds)
            batch_images = len(output)
    except Exception as error:  # ONNX Runtime refusing what the checks let through
        raise JobFailed("inference_failed", f"the model could not run these inputs: {error}") from None
    inferred = time.perf_counter()
    tensors = {}
    for name in params["outputs"]:
        if name == spec.network_output:
            tensors[name] = output
        elif name == spec.network_output + UINT8_SUFFIX:
            tensors[name] = as_uint8_images(output, spec.output_range)
    packed = pack_tensors(tensors)
    metrics = {"inference_s": round(inferred - started, 5), "batch_images": batch_images, "rows": len(output)}
    return job_outputs(context, job, [(OUTPUT_NAME, packed, OUTPUT_TYPE)], metrics, cache_digest)
