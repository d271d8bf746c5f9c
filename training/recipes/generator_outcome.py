"""The end every noise-to-image recipe shares: provenance, publishing the version, announcing it,
measuring it on its training data, and the run's figures."""

from collections.abc import Callable
from typing import Any

from models.manifest import Manifest, Provenance
from models.store import ModelStore
from training.recipes.outcome import TrainingOutcome
from training.recipes.publish import measure_and_gate
from training.recipes.session import TrainingSession

Publish = Callable[[ModelStore, str, Provenance], Manifest]  # registers with no alias: the gate moves latest


def publish_generator_run(run: TrainingSession, config: Any, result: Any, resumed_from: int, publish: Publish,
                          **extra_metrics: Any) -> TrainingOutcome:
    """`config`: the run's pydantic config (seed, hyperparameters); `result`: the trainer's result
    (step, losses); `publish(store, name, provenance)` registers the version."""
    params = run.params
    provenance = Provenance(
        trainer=run.family.name, dataset=params["dataset"], seed=config.seed, steps=result.step,
        job_id=run.job_id, command=run.command, hyperparameters=config.model_dump(),
    )
    manifest = publish(run.models, params["model_name"], provenance)
    run.registered(manifest)
    # Its figures on its training data (also in its manifest); latest moves only to a better FID.
    manifest, judged = measure_and_gate(run, manifest)
    return TrainingOutcome(metrics={
        "steps": result.step,
        "resumed_from_step": resumed_from,
        "losses": result.losses,
        "model": manifest.ref,
        "parity_max_abs_diff": manifest.parity_max_abs_diff,
        **extra_metrics,
        **judged,
    })
