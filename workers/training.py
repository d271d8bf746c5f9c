"""The training task: the job's side of every training run, whatever the family.

The task looks the family up by name (training/families/) and runs its recipe
(training/recipes/) with a TrainingRun, this job's TrainingSession: it reports progress,
samples and checkpoints, answers cancel, resumes from the newest checkpoint and announces the
registered version. The recipe's TrainingOutcome becomes the job's result, a TrainingFailed
its error. Torch is imported by the recipes only when a training runs, so workers that only
serve inference never load it.
"""

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.artifacts import open_object_store
from models.artifacts.mirror import BackgroundPush, FolderMirror
from models.manifest import Manifest
from service.core.jobs import Job, JobStatus, ModelRef
from service.core.settings import Settings
from training.data.bucket_store import dataset_kept
from training.evaluation.run import Evaluation
from training.families import FAMILIES
from training.recipes.outcome import TrainingFailed, TrainingOutcome
from workers.context import WorkerContext
from workers.eta import PhaseClock
from workers.evaluation import evaluation_of
from workers.job_runner import JobFailed, JobResult, job_task
from workers.outage import best_effort
from workers.shutdown import WorkerStopping, stopping
from workers.webhooks import notify_progress

PROGRESS_INTERVAL_S = 0.5
CANCEL_CHECK_INTERVAL_S = 0.2

log = logging.getLogger(__name__)


@job_task("train")
def train(context: WorkerContext, job: Job) -> JobResult:
    """Safe to deliver again: a second delivery resumes from the newest checkpoint, and the lease
    keeps two workers from running it at once."""
    from training.recipes.table import RECIPES  # torch, only once a training runs

    if stopping():
        raise WorkerStopping  # fetched as the worker was told to stop: another worker starts it
    run = TrainingRun(context, job)
    try:
        with dataset_kept(run.datasets, run.params["dataset"]):  # this host's copy outlives the run
            outcome = RECIPES[run.family.recipe](run)
    except TrainingFailed as failure:
        raise JobFailed(failure.type, failure.detail) from None
    finally:
        run.flush_checkpoints()  # the last save is in the bucket before the job is released
    if run.stopped_for_shutdown:
        raise WorkerStopping  # checkpointed (if the job checkpoints): another worker resumes it
    return JobResult(outputs=run.samples, metrics={**outcome.metrics, **run.runtime_figures()})


class TrainingRun:
    """This job as the recipe's TrainingSession (training/recipes/session.py)."""

    def __init__(self, context: WorkerContext, job: Job):
        self.context = context
        self.jobs = context.jobs
        self.job = job
        self.job_id = job.id
        self.command = None
        self.params = job.params
        self.family = FAMILIES[self.params["architecture"]]
        self.models = context.models
        self.evaluation: Evaluation = evaluation_of(context)
        self.datasets = self.evaluation.datasets
        self.eval_samples = context.settings.train_eval_samples
        self.device = context.settings.device
        self.checkpoints = context.settings.artifacts_dir / "checkpoints" / job.id
        self.checkpoint_mirror = checkpoint_mirror(context.settings, job.id, self.checkpoints)
        self.checkpoint_push: BackgroundPush | None = None
        if self.checkpoint_mirror is not None:  # a redelivery on another host finds the run's checkpoints
            self.checkpoint_mirror.pull()
            self.checkpoint_push = BackgroundPush(self.checkpoint_mirror, self._push_failed)
        self._adopt_checkpoints(self.params.get("resume_from"))
        self.samples = [o for o in job.outputs if o.name.startswith("sample-")]  # kept across a resume
        self._last_progress = self._last_cancel_check = 0.0
        self._canceled = False
        self.stopped_for_shutdown = False  # the worker is stopping: the job goes back to the queue
        self._rate: float | None = None
        self._clock = PhaseClock()  # the ETA: each phase's own measured pace (workers/eta.py)
        self._started = time.monotonic()

    def runtime_figures(self) -> dict[str, str]:
        """Where the run trained and in what arithmetic: {"device": "cuda:0 NVIDIA H100 …", "precision": "bf16"}."""
        from training.trainers.device import Runtime

        hyperparameters = self.params.get("hyperparameters") or {}
        runtime = Runtime.for_run(self.device, hyperparameters.get("precision", "auto"))
        return runtime.describe()

    def fit(self, train: Callable[..., Any], render: Callable[[Any], bytes]) -> tuple[Any, int]:
        """What every family's job shares around its trainer: announce a resume, then call
        `train(progress_fn=, abort_fn=, checkpoint_dir=, sample_fn=, device=)` with this job's callbacks;
        `render(nets)` draws a sample grid PNG from whatever the trainer hands `sample_fn`.
        Answers the trainer's result and the step it resumed from."""
        resumed_from = self.resume_point()
        if resumed_from:
            self.jobs.emit(self.job.id, "resumed", {"step": resumed_from})
        every = self.params["sample_every"]

        def sample(step: int, nets: Any) -> None:
            if every and step % every == 0:  # Redis away: this grid is skipped, the training goes on
                best_effort(lambda: self.publish_sample(step, render(nets)), "publishing a sample grid")

        from training.trainers.device import is_out_of_memory, release_memory

        out_of_memory = False
        try:
            result = train(progress_fn=self.progress, abort_fn=self.should_stop, checkpoint_dir=self.checkpoints,
                           sample_fn=sample, device=self.device)
        except ValueError as bad:  # a setting the data can't satisfy, found once the data is loaded
            raise TrainingFailed("invalid_training_setup", str(bad)) from None
        except RuntimeError as error:  # torch.cuda.OutOfMemoryError is one
            if not is_out_of_memory(error):
                raise
            out_of_memory = True
        finally:
            self.push_checkpoints()  # the loop's last save (finished, canceled, stopping) too
        if out_of_memory:  # out of the handler, so the failed step's tensors are no longer referenced
            release_memory()
            raise TrainingFailed("out_of_memory", self.out_of_memory_detail())
        return result, resumed_from

    def out_of_memory_detail(self) -> str:
        """What ran out, at which batch and image size, and how to continue with less."""
        batch_size = (self.params.get("hyperparameters") or {}).get("batch_size")
        step = self.resume_point()
        kept = (f"its newest checkpoint (step {step}) is kept: continue it with POST /train "
                f'{{"resume_from": "{self.job.id}", "hyperparameters": {{"batch_size": {max(1, (batch_size or 2) // 2)}}}, …}}'
                if step else "no checkpoint was written yet: retry with a smaller batch_size or checkpoint_every")
        return (f"{self.runtime_figures()['device']} ran out of memory training {self.params['architecture']} at "
                f"batch_size {batch_size} and image_size {self.params.get('image_size')}; {kept}")

    def stopped(self, result: Any) -> TrainingOutcome | None:
        """The outcome if the job was canceled (the job runner then drops it), else None."""
        if result.aborted or self.should_stop(force=True):
            return TrainingOutcome(metrics={"stopped_at_step": result.step})
        return None

    def final_sample(self, step: int, render: Callable[[], bytes]) -> None:
        if not self.samples or self.samples[-1].name != sample_name(step):
            self.publish_sample(step, render())

    def registered(self, manifest: Manifest) -> None:
        self.jobs.update(self.job.id, "registered", data={"model": manifest.ref},
                         model=ModelRef(name=manifest.name, version=manifest.version))

    def _adopt_checkpoints(self, old_job_id: str | None) -> None:
        """POST /train with `resume_from`: start from a copy of that job's checkpoints (kept, so
        the old job can be resumed again); a redelivery of this job keeps its own."""
        import shutil

        if not old_job_id or (self.checkpoints.is_dir() and any(self.checkpoints.iterdir())):
            return
        source = self.checkpoints.parent / old_job_id
        if self.checkpoint_mirror is not None:
            checkpoint_mirror(self.context.settings, old_job_id, source).pull()
        if not source.is_dir() or not any(source.iterdir()):
            raise JobFailed("no_checkpoint", f"job {old_job_id} left no checkpoint to resume from")
        shutil.copytree(source, self.checkpoints, dirs_exist_ok=True)

    def steps_for(self, dataset_size: int) -> int:
        """`steps` as asked, or `epochs` passes over `dataset_size` images; with `register_only`
        the step of the newest checkpoint, so nothing more is trained."""
        if self.params.get("register_only"):
            return self.resume_point()
        batch = min(self.params["hyperparameters"]["batch_size"], dataset_size)
        return self.params.get("steps") or math.ceil(self.params["epochs"] * dataset_size / batch)

    def resume_point(self) -> int:
        from training.trainers.checkpoints import latest_checkpoint, read_meta

        stem = latest_checkpoint(self.checkpoints)
        return read_meta(stem)["step"] if stem is not None else 0

    # -- callbacks from the training loop ---------------------------------------------------------

    def progress(self, step: int, total: int, losses: dict[str, float], images_per_sec: float, *,
                 phase: Any = None) -> None:
        """After every step; `phase` is the loop's Phase (name, start, stop) of the step."""
        phase_name, phase_stop = (phase.name, phase.stop) if phase is not None else ("train", total)
        self._clock.tick(step, phase_name)
        # One step's rate is noisy; an exponential average reads better and gives a steadier ETA.
        self._rate = images_per_sec if self._rate is None else 0.9 * self._rate + 0.1 * images_per_sec
        every = self.params["checkpoint_every"]
        if every and step % every == 0:  # Redis away: the training goes on (workers/outage.py)
            self.push_checkpoints()  # the loop saved this step's checkpoint just before calling us
            best_effort(lambda: self.jobs.emit(self.job.id, "checkpoint", {"step": step}), "announcing a checkpoint")
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S and step != total:
            return
        self._last_progress = now
        progress = {
            "step": step,
            "total": total,
            "losses": {k: round(v, 5) for k, v in losses.items()},
            "images_per_sec": round(self._rate, 1),
            "eta_s": round(eta, 1) if (eta := self._clock.eta(step, total, phase_stop)[0]) is not None else None,
            "phase": phase_name,
            "elapsed_s": round(now - self._started, 1),
        }
        # Progress missed while Redis is away is re-synced by the next report after it is back.
        if best_effort(lambda: self.jobs.update(self.job.id, "progress", progress=progress) or True, "reporting progress"):
            best_effort(lambda: notify_progress(self.context, self.job.id), "notifying progress")

    def push_checkpoints(self) -> None:
        """With a bucket: the checkpoints saved since the last push go up, on the run's uploader
        thread, so the step does not wait for the bucket (models/artifacts/mirror.py)."""
        if self.checkpoint_push is not None:
            self.checkpoint_push.request()

    def flush_checkpoints(self) -> None:
        """Wait until the newest checkpoint is in the bucket. A bucket away costs the run its
        resumability elsewhere, not its progress here, so a failure is logged, not raised."""
        if self.checkpoint_push is None:
            return
        try:
            self.checkpoint_push.flush()
        except Exception as failure:
            self._push_failed(failure)

    def _push_failed(self, failure: Exception) -> None:
        log.warning("could not copy job %s's checkpoints to %s", self.job.id, self.checkpoint_mirror.objects.url,
                    exc_info=failure)

    def should_stop(self, force: bool = False) -> bool:
        """True once the job was canceled, or the worker is stopping (SIGTERM); asks Redis at most
        every CANCEL_CHECK_INTERVAL_S."""
        if stopping() and not self._canceled:
            self.stopped_for_shutdown = True
            return True
        now = time.monotonic()
        if not self._canceled and (force or now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL_S):
            self._last_cancel_check = now
            status = best_effort(lambda: self.jobs.status(self.job.id), "checking for a cancel", JobStatus.running)
            self._canceled = status is None or status == JobStatus.canceled
        return self._canceled

    def publish_sample(self, step: int, png: bytes) -> None:
        (output,) = self.jobs.put_outputs(
            self.job.id, [(sample_name(step), png, "image/png")], ttl_s=self.context.settings.job_ttl_s
        )
        self.samples.append(output)
        self.jobs.update(self.job.id, "sample", data={"step": step, **output.model_dump()}, outputs=self.samples)


def checkpoint_mirror(settings: Settings, job_id: str, folder: Path) -> FolderMirror | None:
    """With GANFORGE_ARTIFACTS_URL, `folder` kept in step with checkpoints/<job_id>/ in the bucket."""
    if not settings.artifacts_url:
        return None
    objects = open_object_store(f"{settings.artifacts_url.rstrip('/')}/checkpoints", endpoint_url=settings.s3_endpoint_url)
    return FolderMirror(objects, job_id, folder)


def sample_name(step: int) -> str:
    return f"sample-{step:06d}.png"
