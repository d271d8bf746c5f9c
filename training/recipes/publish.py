"""The end of a training run: export the generator to ONNX, prove parity, register a version."""

import tempfile
from pathlib import Path

from models.export import export_generator
from models.manifest import Manifest, Provenance
from models.store import ModelStore
from training.trainers.dcgan import TrainResult


def publish_generator(result: TrainResult, store: ModelStore, name: str, provenance: Provenance,
                      aliases: tuple[str, ...] = ("latest",)) -> Manifest:
    """Register `result`'s generator as the next version of `name`, pointing `aliases` at it
    (a training job passes none: its quality gate moves `latest`).

    The export raises ExportParityError when ONNX Runtime disagrees with PyTorch, and then
    nothing is registered.
    """
    signature = result.signature()
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = Path(scratch) / "model.onnx"
        parity = export_generator(result.generator, signature, onnx_path)
        return store.register(
            name,
            onnx_path,
            task="generate",
            architecture=result.architecture,
            config=result.architecture_config,
            signature=signature,
            provenance=provenance,
            parity_max_abs_diff=parity,
            aliases=aliases,
        )


# What if_better measures a new version with when the run's own measurement is off
# (GANFORGE_TRAIN_EVAL_SAMPLES=0): the setting's default, so figures stay comparable.
GATE_SAMPLES = 500


def measure_and_gate(run, manifest: Manifest) -> tuple[Manifest, dict]:
    """After a generator run is registered (with no alias): measure it on its training data
    (training/evaluation/run.py), then let the quality gate decide whether `latest` moves to it
    (training/evaluation/quality_gate.py). `latest` stays on the previous version unless the new
    one's FID beats it, measured the same way; the previous version is measured now, with the same
    samples, when its manifest has no such figures: no dearer than the measurement just made.
    With `promote: if_better` and a `latest` to keep, the new version is measured even when the
    run's own measurement is off, and one that cannot be measured does not take `latest`.
    Answers the manifest and the metrics to add to the job's (the figures and the verdict)."""
    from training.evaluation.quality_gate import gate_generator, previous_latest
    from training.evaluation.run import evaluate_generator, evaluate_new_version

    promote = run.params.get("promote", "if_better")
    n = run.eval_samples
    if not n and promote == "if_better" and previous_latest(run.models, manifest.name, manifest.version):
        n = GATE_SAMPLES
    evaluation = evaluate_new_version(run.evaluation, manifest, n, run.job_id)
    figures = evaluation.get("evaluation")

    def measure_previous(previous: Manifest) -> dict | None:
        try:
            return evaluate_generator(run.evaluation, previous, figures["dataset"], figures["n_fake"],
                                      seed=figures.get("seed", 0), job_id=run.job_id)
        except Exception:  # noqa: BLE001 - no comparison then; the verdict says so
            return None

    why = evaluation.get("evaluation_skipped") or evaluation.get("evaluation_error") or "evaluation off"
    manifest, verdict = gate_generator(run.models, manifest, figures, promote, measure_previous, why)
    return manifest, {**evaluation, **verdict.as_metrics()}
