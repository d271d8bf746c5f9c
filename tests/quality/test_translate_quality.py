"""The bundled translators on their held-out digits (never trained on), through the registered
ONNX files with ONNX Runtime, as the service runs them.

Units: mean absolute error on pixels in [-1, 1] (halve it for a fraction of full scale).
- edges2digits-pix2pix: L1 to the target digit must be under half of the better trivial
  baseline (the edge map itself, or the mean training digit).
- thin2bold-cyclegan: cycle reconstruction error (A -> B -> A and B -> A -> B) under
  CYCLE_BOUND; and, since the held-out split has both renderings of each digit, the
  translation itself must be closer to the true bold digit than its thin input is.
"""

from pathlib import Path

import numpy as np
import pytest

from models.store import ModelStore
from training.data.translation import load_task
from training.zoo.translation import RECIPES, onnx_translate

ZOO = ModelStore(Path(__file__).resolve().parents[2] / "models" / "zoo")
CYCLE_BOUND = 0.10  # 5% of full scale, per pixel on average


def bundled(task: str):
    name = RECIPES[task]["model_name"]
    if not ZOO.versions(name):
        pytest.skip(f"{name} is not in models/zoo; build it with `python -m training zoo {name}`")
    return ZOO.resolve(name)


def test_pix2pix_beats_the_trivial_baselines_on_held_out_pairs():
    manifest = bundled("edges2digits")
    task = load_task("edges2digits")
    fake = onnx_translate(ZOO, manifest, "a2b", task.test_a)
    l1 = float(np.abs(fake - task.test_b).mean())
    baseline_input = float(np.abs(task.test_a - task.test_b).mean())
    baseline_mean = float(np.abs(task.train_b.mean(0, keepdims=True) - task.test_b).mean())
    assert l1 < 0.5 * min(baseline_input, baseline_mean), (l1, baseline_input, baseline_mean)
    assert manifest.metrics["l1_a2b"] == pytest.approx(l1, abs=1e-3)  # the manifest reports what we measure
    assert manifest.parity_max_abs_diff <= 1e-4 and set(manifest.signature.directions) == {"a2b"}


def test_cyclegan_reconstructs_its_cycles_and_translates_toward_the_truth():
    manifest = bundled("thin2bold")
    task = load_task("thin2bold")
    fake_b = onnx_translate(ZOO, manifest, "a2b", task.test_a)
    fake_a = onnx_translate(ZOO, manifest, "b2a", task.test_b)
    cycle_a = float(np.abs(onnx_translate(ZOO, manifest, "b2a", fake_b) - task.test_a).mean())
    cycle_b = float(np.abs(onnx_translate(ZOO, manifest, "a2b", fake_a) - task.test_b).mean())
    assert cycle_a < CYCLE_BOUND and cycle_b < CYCLE_BOUND, (cycle_a, cycle_b)
    assert float(np.abs(fake_b - task.test_b).mean()) < float(np.abs(task.test_a - task.test_b).mean())
    assert float(np.abs(fake_a - task.test_a).mean()) < float(np.abs(task.test_b - task.test_a).mean())
    assert manifest.parity_max_abs_diff <= 1e-4 and set(manifest.signature.directions) == {"a2b", "b2a"}


@pytest.mark.parametrize("task", ["edges2digits", "thin2bold"])
def test_bundled_models_are_small_and_say_how_to_rebuild_them(task):
    manifest = bundled(task)
    folder = ZOO.onnx_path(manifest).parent
    assert sum(p.stat().st_size for p in folder.glob("*.onnx")) < 10 * 2**20
    assert manifest.provenance.command.startswith("python -m training.translation_cli " + task)
