"""The end every noise-to-image recipe shares: provenance, publishing the version, announcing it,
measuring it on its training data, and the run's figures."""

from collections.abc import Callable
from typing import Any

from models.manifest import Manifest, Provenance
from models.store import ModelStore
from training.evaluation.run import evaluate_new_version
from training.recipes.outcome import TrainingOutcome
from training.recipes.publish import gate_generator_run
from training.recipes.session import TrainingSession

Publish = Callable[[ModelStore, str, Provenance], Manifest]


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
    # Quality figures of the new version on its training data (training/evaluation/run.py), also in its manifest.
    evaluation = evaluate_new_version(run.evaluation, manifest, run.eval_samples, run.job_id)
    manifest, gate = gate_generator_run(run, manifest, evaluation)  # latest moves only to a better FID
    return TrainingOutcome(metrics={
        "steps": result.step,
        "resumed_from_step": resumed_from,
        "losses": result.losses,
        "model": manifest.ref,
        "parity_max_abs_diff": manifest.parity_max_abs_diff,
        **extra_metrics,
        **evaluation,
        **gate,
    })
