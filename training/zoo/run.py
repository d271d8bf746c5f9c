"""How `python -m training zoo` asks a bundled model to be made: one ZooRun per model."""

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.store import ModelStore
from training.recipes.cli_session import DRY_RUN_STEPS


@dataclass(frozen=True)
class ZooRun:
    store: Path  # the registry it lands in, e.g. models/zoo
    command: str  # the command line that reproduces it, kept in its provenance
    steps: int | None = None  # override of the recipe's steps
    dry_run: bool = False  # DRY_RUN_STEPS into a throwaway store: a smoke test of the whole path
    work_dir: Path | None = None  # checkpoints (resumable); default: none, or a temporary folder

    def steps_or(self, default: int) -> int:
        return DRY_RUN_STEPS if self.dry_run else (self.steps or default)

    @contextmanager
    def registry(self) -> Iterator[ModelStore]:
        """The store to register into: the real one, or a temporary one for a dry run."""
        with tempfile.TemporaryDirectory() as scratch:
            yield ModelStore(Path(scratch) if self.dry_run else self.store)


def log_progress(step: int, total: int, losses: dict[str, float], images_per_sec: float) -> None:
    """A progress line every 100 steps, for the long runs of `make zoo`."""
    if step % 100 == 0 or step == total:
        shown = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
        logging.getLogger("training.zoo").info("step %d/%d %s %.0f img/s", step, total, shown, images_per_sec)
