"""The evaluate task: a version measured against a dataset (training/evaluation/run.py does the
measuring), its figures recorded in the manifest and answered as the job's metrics."""

import time

from models.store import UnknownModel
from service.core.jobs import Job
from training.data.store import DatasetStore, UnknownDataset
from training.evaluation.extractor_choice import ExtractorUnsuitable
from training.evaluation.run import Evaluation, evaluate_generator
from workers.context import WorkerContext
from workers.job_runner import JobFailed, JobResult, job_task
from workers.outage import best_effort
from workers.webhooks import notify_progress

PROGRESS_INTERVAL_S = 0.5


@job_task("evaluate")
def evaluate(context: WorkerContext, job: Job) -> JobResult:
    """Safe to run twice: the same seed gives the same samples and the same figures."""
    params = job.params
    try:
        manifest = context.models.resolve(f"{job.model.name}:{job.model.version}")
        figures = evaluate_generator(evaluation_of(context), manifest, params["dataset"], params["n_samples"],
                                     params["extractor"], params["seed"], job_id=job.id,
                                     progress=ExtractionProgress(context, job.id))
    except UnknownModel as missing:
        raise JobFailed("unknown_model", str(missing)) from None
    except UnknownDataset as missing:
        raise JobFailed("unknown_dataset", str(missing)) from None
    except ExtractorUnsuitable as unsuitable:
        raise JobFailed("extractor_unsuitable", str(unsuitable)) from None
    return JobResult(metrics=figures)


class ExtractionProgress:
    """The job's progress while images go through the feature extractor: {phase: "extracting",
    images, total, images_per_sec, eta_s, elapsed_s}, at most every PROGRESS_INTERVAL_S (and at
    the end), as a training reports its steps; an event on the job's stream each time."""

    def __init__(self, context: WorkerContext, job_id: str) -> None:
        self.context, self.job_id = context, job_id
        self._started = self._last = time.monotonic()
        self._first_done: tuple[float, int] | None = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if 0 < done < total and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        if self._first_done is None and done:
            self._first_done = (now, done)  # the first batch carries the extractor's warm-up: the rate starts after it
        rate = None
        if self._first_done is not None and done > self._first_done[1]:
            rate = (done - self._first_done[1]) / max(now - self._first_done[0], 1e-6)
        progress = {"phase": "extracting", "images": done, "total": total,
                    "images_per_sec": round(rate, 1) if rate else None,
                    "eta_s": round((total - done) / rate, 1) if rate else None,
                    "elapsed_s": round(now - self._started, 1)}
        # Redis away: the measurement goes on, the next report catches up (workers/outage.py)
        if best_effort(lambda: self.context.jobs.update(self.job_id, "progress", progress=progress) or True,
                       "reporting evaluation progress"):
            best_effort(lambda: notify_progress(self.context, self.job_id), "notifying progress")


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
