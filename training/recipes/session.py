"""What a family's recipe gets from whoever runs it: the train task (workers/training.py), or a test.

A recipe is `recipe(session) -> TrainingOutcome`: it loads the job's data, trains through
`session.fit` (which wires the trainer's callbacks to the job: progress, cancel, sample grids,
checkpoints and resume), publishes the version with `session.models` and announces it with
`session.registered`. It raises TrainingFailed for what the client should be told.
"""

from collections.abc import Callable
from typing import Any, Protocol

from models.manifest import Manifest
from models.store import ModelStore
from training.data.store import DatasetStore
from training.evaluation.run import Evaluation
from training.families.spec import Family
from training.recipes.outcome import TrainingOutcome

Render = Callable[[Any], bytes]  # whatever the trainer hands its sample callback -> a PNG grid


class TrainingSession(Protocol):
    family: Family
    params: dict[str, Any]  # the validated POST /train request: dataset, image_size, seed, hyperparameters, ...
    job_id: str | None  # the POST /train job; None on the command line
    command: str | None  # the command line that reproduces the run; None over HTTP
    datasets: DatasetStore
    models: ModelStore  # where the new version is registered
    evaluation: Evaluation  # how to measure a version just published (training/evaluation/run.py)
    eval_samples: int  # samples for that measurement; 0 skips it
    device: str  # where the run trains: auto, cpu, cuda or cuda:N (training/trainers/device.py)

    def steps_for(self, dataset_size: int) -> int:
        """`steps` as asked, or `epochs` passes over `dataset_size` images."""

    def fit(self, train: Callable[..., Any], render: Render) -> tuple[Any, int]:
        """Call `train(progress_fn=, abort_fn=, checkpoint_dir=, sample_fn=, device=)` with this job's callbacks;
        answers the trainer's result and the step the run resumed from (0 for a fresh run)."""

    def stopped(self, result: Any) -> TrainingOutcome | None:
        """The outcome of a canceled run (nothing is published), else None."""

    def final_sample(self, step: int, render: Callable[[], bytes]) -> None:
        """Publish the last grid unless the run's sample schedule already did."""

    def registered(self, manifest: Manifest) -> None:
        """Tell the job (and its followers) which version the run registered."""
