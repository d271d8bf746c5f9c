"""The import_model task: another project's checkpoint read, converted, exported and published.

The API streamed the files into the shared artifact store (ARTIFACTS_DIR/uploads/models/<token>/)
and queued this job on the training queue: loading and converting need torch, and the ONNX export
with its parity check is the same work that ends a training. Whatever the outcome, the staged
upload is removed. Torch is imported when an import runs, not with this module: every worker
process loads the task modules, and inference workers never load torch (test_training_workers).
"""

from models.checkpoints import UnknownFormat, convert
from models.manifest import SourceFile
from models.store import UnknownModel, file_sha256
from service.core.jobs import Job
from workers.context import WorkerContext
from workers.job_runner import JobFailed, JobResult, job_task
from workers.model_upload import discard_upload, staged_upload


@job_task("import_model")
def import_model(context: WorkerContext, job: Job) -> JobResult:
    """Publish a checkpoint as the next version of params["name"]. Safe to run twice: a second
    run finds the staged files gone and fails without publishing anything."""
    from models.checkpoints.base import CheckpointRejected
    from models.checkpoints.loading import load_checkpoint
    from models.checkpoints.publish import (
        import_aliases,
        import_provenance,
        publish_conversion,
    )
    from models.export import ExportParityError

    params = job.params
    folder = staged_upload(context, params["upload"])
    try:
        paths = [folder / file["staged"] for file in params["files"]]
        if not all(path.is_file() for path in paths):
            raise JobFailed("upload_gone", "the uploaded checkpoint is no longer staged; import it again")
        names = [file["name"] for file in params["files"]]
        checkpoints = [load_checkpoint(path, name) for path, name in zip(paths, names)]
        conversion = convert(params["format"], checkpoints, params["options"])
        _same_task(context, params["name"], conversion.task)
        sources = [SourceFile(name=name, sha256=file_sha256(path)) for path, name in zip(paths, names)]
        del checkpoints  # the tensors now live in the conversion's modules; free the loaded copies
        provenance = import_provenance(params["format"], sources, params["options"], conversion.notes)
        manifest = publish_conversion(conversion, context.models, params["name"], provenance,
                                      import_aliases(context.models, params["name"], params.get("promote")))
    except (CheckpointRejected, UnknownFormat) as rejected:
        raise JobFailed("invalid_checkpoint", str(rejected)) from None
    except ExportParityError as drift:  # weights whose ONNX graph strays from PyTorch: say by how much
        raise JobFailed("export_parity", f"the exported network differs from the checkpoint's: {drift}") from None
    finally:
        discard_upload(context, params["upload"], folder)
    return JobResult(metrics={"registered": {"name": manifest.name, "version": manifest.version},
                              "parity_max_abs_diff": manifest.parity_max_abs_diff})


def _same_task(context: WorkerContext, name: str, task: str) -> None:
    """A model's versions all do one task, whatever made them (as for uploads)."""
    try:
        current = context.models.resolve_cached(name)
    except UnknownModel:
        return
    if current.task != task:
        raise JobFailed("wrong_task", f"{name!r} is a {current.task} model; this checkpoint is a {task} network")
