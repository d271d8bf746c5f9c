"""The end of a training run: export the generator to ONNX, prove parity, register a version."""

import tempfile
from pathlib import Path

from models.export import export_generator
from models.manifest import Manifest, Provenance
from models.store import ModelStore
from training.trainers.dcgan import TrainResult


def publish_generator(result: TrainResult, store: ModelStore, name: str, provenance: Provenance) -> Manifest:
    """Register `result`'s generator as the next version of `name`, aliased `latest`.

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
        )


def gate_generator_run(run, manifest: Manifest, evaluation: dict) -> tuple[Manifest, dict]:
    """After a generator run is registered and measured (`evaluation`: what
    training.evaluation.run.evaluate_new_version answered): `latest` stays on the previous version
    unless the new one's FID beats it, measured the same way (training/evaluation/quality_gate.py). The
    previous version is measured now, with the same samples, when its manifest has no such
    figures: no dearer than the measurement the run just made. Answers the manifest and the
    metrics to add to the job's."""
    from training.evaluation.quality_gate import gate_generator
    from training.evaluation.run import evaluate_generator

    figures = evaluation.get("evaluation")

    def measure_previous(previous: Manifest) -> dict | None:
        try:
            return evaluate_generator(run.evaluation, previous, figures["dataset"], figures["n_fake"],
                                      seed=figures.get("seed", 0), job_id=run.job_id)
        except Exception:  # noqa: BLE001 - no comparison then; the verdict says so
            return None

    manifest, verdict = gate_generator(run.models, manifest, figures, run.params.get("promote", "if_better"),
                                       measure_previous)
    return manifest, verdict.as_metrics()
