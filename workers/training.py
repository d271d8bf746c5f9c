"""The training task: train, report progress and samples, honour cancel, resume, publish.

Torch is imported inside the task, so workers that only serve inference never load it.
"""

import copy
import math
import time

import numpy as np
from celery import Task, shared_task

from models.manifest import Provenance
from service.schemas.jobs import Job, JobStatus, ModelRef
from training.dataset_store import DatasetStore
from training.datasets import Dataset
from training.families import FAMILIES
from workers.celery_app import TRAIN_TASK
from workers.context import WorkerContext, worker_context
from workers.evaluation import evaluate_new_version
from workers.grids import grid_png
from workers.job_runner import JobFailed, JobResult, run_job
from workers.latents import sample_latents
from workers.webhooks import notify_progress

PROGRESS_INTERVAL_S = 0.5
CANCEL_CHECK_INTERVAL_S = 0.2
SAMPLE_GRID_SIZE = 64


@shared_task(name=TRAIN_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def train(self: Task, job_id: str) -> None:
    """Safe to deliver again: a second delivery resumes from the newest checkpoint, and the lease
    keeps two workers from running it at once."""
    context = worker_context(self.app)
    run_job(context.jobs, job_id, context.settings.lease_ttl_s, lambda job: TrainingRun(context, job).run())


class TrainingRun:
    def __init__(self, context: WorkerContext, job: Job):
        self.context = context
        self.jobs = context.jobs
        self.job = job
        self.params = job.params
        self.family = FAMILIES[self.params["architecture"]]
        self.checkpoints = context.settings.artifacts_dir / "checkpoints" / job.id
        self.samples = [o for o in job.outputs if o.name.startswith("sample-")]  # kept across a resume
        self._last_progress = self._last_cancel_check = 0.0
        self._canceled = False
        self._rate: float | None = None
        self._started = time.monotonic()
        self.class_names: list[str] = []

    def run(self) -> JobResult:
        if self.family.runner:  # a family with its own trainer, e.g. srgan -> training/sr_trainer.py
            import importlib

            module, _, function = self.family.runner.partition(":")
            return getattr(importlib.import_module(module), function)(self)
        from training.configs import DCGANConfig
        from training.dcgan_trainer import train_dcgan
        from training.publish import publish_generator

        dataset = self.load_dataset()
        hyperparameters = self.params["hyperparameters"]
        steps = self.params.get("steps") or math.ceil(
            self.params["epochs"] * len(dataset) / min(hyperparameters["batch_size"], len(dataset))
        )
        config = DCGANConfig(
            **hyperparameters, conditional=self.family.conditional, steps=steps,
            seed=self.params["seed"], checkpoint_every=self.params["checkpoint_every"],
        )
        resumed_from = self.resume_point()
        if resumed_from:
            self.jobs.emit(self.job.id, "resumed", {"step": resumed_from})
        try:
            result = train_dcgan(
                config, dataset, progress_fn=self.progress, abort_fn=self.should_stop,
                checkpoint_dir=self.checkpoints, sample_fn=self.sample,
            )
        except ValueError as bad:  # a setting the data can't satisfy, found once the data is loaded
            raise JobFailed("invalid_training_setup", str(bad)) from None
        if result.aborted or self.should_stop(force=True):
            return JobResult(metrics={"stopped_at_step": result.step})  # canceled: the runner drops it

        if not self.samples or self.samples[-1].name != sample_name(result.step):
            self.publish_sample(result.step, result.generator)
        provenance = Provenance(
            trainer=self.family.name, dataset=self.params["dataset"], seed=config.seed, steps=result.step,
            job_id=self.job.id, hyperparameters=config.model_dump(),
        )
        manifest = publish_generator(result, self.context.models, self.params["model_name"], provenance)
        self.jobs.update(self.job.id, "registered", data={"model": manifest.ref},
                         model=ModelRef(name=manifest.name, version=manifest.version))
        # Quality figures of the new version on its training data (workers/evaluation.py), also in its manifest.
        evaluation = evaluate_new_version(self.context, manifest, self.job.id)
        return JobResult(
            outputs=self.samples,
            metrics={
                "steps": result.step,
                "resumed_from_step": resumed_from,
                "losses": result.losses,
                "model": manifest.ref,
                "parity_max_abs_diff": manifest.parity_max_abs_diff,
                "train_s": round(time.monotonic() - self._started, 2),
                **evaluation,
            },
        )

    def load_dataset(self) -> Dataset:
        store = DatasetStore.from_settings(self.context.settings)
        ref = self.params["dataset"]
        modes = store.get(ref).modes
        gray = bool(modes) and max(modes, key=modes.get) in ("1", "L", "LA", "I", "I;16")
        images, labels, class_names = store.load_images(ref, self.params["image_size"], 1 if gray else 3)
        if labels is None:  # unconditional data: the trainer still wants a label per image
            labels = np.zeros(len(images), dtype=np.int64)
        self.class_names = list(class_names)
        return Dataset(ref, images, labels, self.class_names)

    def resume_point(self) -> int:
        from training.checkpoints import latest_checkpoint, read_meta

        stem = latest_checkpoint(self.checkpoints)
        return read_meta(stem)["step"] if stem is not None else 0

    # -- callbacks from the training loop ---------------------------------------------------------

    def progress(self, step: int, total: int, losses: dict[str, float], images_per_sec: float) -> None:
        # One step's rate is noisy; an exponential average reads better and gives a steadier ETA.
        self._rate = images_per_sec if self._rate is None else 0.9 * self._rate + 0.1 * images_per_sec
        every = self.params["checkpoint_every"]
        if every and step % every == 0:
            self.jobs.emit(self.job.id, "checkpoint", {"step": step})
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S and step != total:
            return
        self._last_progress = now
        batch = self.params["hyperparameters"]["batch_size"]
        progress = {
            "step": step,
            "total": total,
            "losses": {k: round(v, 5) for k, v in losses.items()},
            "images_per_sec": round(self._rate, 1),
            "eta_s": round((total - step) * batch / self._rate, 1) if self._rate else None,
            "elapsed_s": round(now - self._started, 1),
        }
        self.jobs.update(self.job.id, "progress", progress=progress)
        notify_progress(self.context, self.job.id)

    def should_stop(self, force: bool = False) -> bool:
        """True once the job was canceled; asks Redis at most every CANCEL_CHECK_INTERVAL_S."""
        now = time.monotonic()
        if not self._canceled and (force or now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL_S):
            self._last_cancel_check = now
            job = self.jobs.get(self.job.id)
            self._canceled = job is None or job.status == JobStatus.canceled
        return self._canceled

    def sample(self, step: int, generator) -> None:
        every = self.params["sample_every"]
        if every and step % every == 0:
            self.publish_sample(step, generator)

    def publish_sample(self, step: int, generator) -> None:
        import torch

        classes = len(self.class_names) if self.family.conditional else 0
        latent_dim = self.params["hyperparameters"]["latent_dim"]
        z = torch.from_numpy(sample_latents(self.params["seed"], SAMPLE_GRID_SIZE, latent_dim))
        args = (torch.arange(SAMPLE_GRID_SIZE) % classes,) if classes else ()
        # A copy in train mode: batch statistics of this grid, and the trainer's modules untouched.
        with torch.no_grad():
            images = copy.deepcopy(generator).train()(z, *args).numpy()
        columns = classes if 0 < classes <= 16 else None  # one column per class
        name = sample_name(step)
        (output,) = self.jobs.put_outputs(
            self.job.id, [(name, grid_png(images, columns), "image/png")], ttl_s=self.context.settings.job_ttl_s
        )
        self.samples.append(output)
        self.jobs.update(self.job.id, "sample", data={"step": step, **output.model_dump()}, outputs=self.samples)


def sample_name(step: int) -> str:
    return f"sample-{step:06d}.png"
