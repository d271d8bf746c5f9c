"""What a family's recipe answers: a training result, in training's own words.

The train task (workers/training.py) maps it onto the job: a TrainingOutcome becomes the job's
result (with the sample grids it published), a TrainingFailed its error with a stable type.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainingOutcome:
    """Figures of a run that ended: steps, losses, the registered model, its quality."""

    metrics: dict[str, Any] = field(default_factory=dict)


class TrainingFailed(Exception):
    """A run that cannot go on for a reason the client should see (a setting the data cannot
    satisfy, found once the data is loaded), with a stable `type`."""

    def __init__(self, type_: str, detail: str):
        super().__init__(detail)
        self.type = type_
        self.detail = detail
