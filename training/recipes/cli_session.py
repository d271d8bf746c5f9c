"""A TrainingSession on the command line: what `python -m training <family>` hands a recipe.

The same recipe as a POST /train job, with the job's side replaced by a terminal: progress is
logged, sample grids are written to a folder when one is given, nothing is ever canceled.
"""

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.manifest import Manifest
from models.store import ModelStore
from training.data.store import DatasetStore
from training.evaluation.run import Evaluation
from training.families.spec import Family
from training.recipes.outcome import TrainingOutcome

log = logging.getLogger("training")
PROGRESS_EVERY_S = 15.0
DRY_RUN_STEPS = 3  # a smoke test of the whole path: data, a few steps, export, registration


class CommandLineSession:
    def __init__(self, family: Family, params: dict[str, Any], *, datasets: DatasetStore, models: ModelStore,
                 evaluation: Evaluation, eval_samples: int = 0, command: str | None = None,
                 checkpoint_dir: Path | None = None, samples_dir: Path | None = None, device: str = "auto"):
        self.family, self.params, self.command, self.device = family, params, command, device
        self.job_id = None
        self.datasets, self.models, self.evaluation, self.eval_samples = datasets, models, evaluation, eval_samples
        self.checkpoint_dir, self.samples_dir = checkpoint_dir, samples_dir
        self._last_log = 0.0
        self._started = time.monotonic()

    def steps_for(self, dataset_size: int) -> int:
        batch = min(self.params["hyperparameters"]["batch_size"], dataset_size)
        return self.params.get("steps") or math.ceil(self.params["epochs"] * dataset_size / batch)

    def fit(self, train: Callable[..., Any], render: Callable[[Any], bytes]) -> tuple[Any, int]:
        every = self.params.get("sample_every") or 0

        def sample(step: int, nets: Any) -> None:
            if self.samples_dir is not None and every and step % every == 0:
                self._write_sample(step, render(nets))

        result = train(progress_fn=self._progress, abort_fn=None, checkpoint_dir=self.checkpoint_dir,
                       sample_fn=sample, device=self.device)
        return result, 0

    def stopped(self, result: Any) -> TrainingOutcome | None:
        return None  # nobody cancels a command-line run

    def final_sample(self, step: int, render: Callable[[], bytes]) -> None:
        if self.samples_dir is not None:
            self._write_sample(step, render())

    def registered(self, manifest: Manifest) -> None:
        log.info("registered %s in %s (ONNX vs PyTorch max |diff| %.2g)", manifest.ref, self.models.root,
                 manifest.parity_max_abs_diff)

    def _progress(self, step: int, total: int, losses: dict[str, float], images_per_sec: float) -> None:
        now = time.monotonic()
        if now - self._last_log >= PROGRESS_EVERY_S or step == total:
            self._last_log = now
            shown = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
            log.info("step %d/%d %s %.0f img/s %.0fs", step, total, shown, images_per_sec, now - self._started)

    def _write_sample(self, step: int, png: bytes) -> None:
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        (self.samples_dir / f"sample-{step:06d}.png").write_bytes(png)
