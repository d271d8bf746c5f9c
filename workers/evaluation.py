"""The evaluate task: a version measured against a dataset (training/evaluation/run.py does the
measuring), its figures recorded in the manifest and answered as the job's metrics."""

from models.store import UnknownModel
from service.core.jobs import Job
from training.data.store import DatasetStore, UnknownDataset
from training.evaluation.extractor_choice import ExtractorUnsuitable
from training.evaluation.run import Evaluation, evaluate_generator
from workers.context import WorkerContext
from workers.job_runner import JobFailed, JobResult, job_task


@job_task("evaluate")
def evaluate(context: WorkerContext, job: Job) -> JobResult:
    """Safe to run twice: the same seed gives the same samples and the same figures."""
    params = job.params
    try:
        manifest = context.models.resolve(f"{job.model.name}:{job.model.version}")
        figures = evaluate_generator(evaluation_of(context), manifest, params["dataset"], params["n_samples"],
                                     params["extractor"], params["seed"], job_id=job.id)
    except UnknownModel as missing:
        raise JobFailed("unknown_model", str(missing)) from None
    except UnknownDataset as missing:
        raise JobFailed("unknown_dataset", str(missing)) from None
    except ExtractorUnsuitable as unsuitable:
        raise JobFailed("extractor_unsuitable", str(unsuitable)) from None
    return JobResult(metrics=figures)


def evaluation_of(context: WorkerContext) -> Evaluation:
    """The worker's stores and settings as training.evaluation.run takes them."""
    # onnxruntime only once something is measured
    from models.inference.sessions import choose_providers

    settings = context.settings
    return Evaluation(
        models=context.models,
        datasets=DatasetStore.from_settings(settings),
        real_stats_dir=settings.artifacts_dir / "real_stats",
        inception_path=settings.inception_path,
        train_inception_samples=settings.train_eval_inception_samples,
        ort_threads=settings.ort_threads,
        extractor_device=settings.device,
        ort_providers=tuple(choose_providers(settings.ort_providers)),
    )
