"""A progress bar for a job followed over SSE: step of total, ETA, images/s and losses (rich).

It fits 80 columns with the step and the ETA in view: the label and the bar have fixed widths,
the losses come last and are the part that gets cut. Before the first progress event the step
column says what the job is doing (queued, running) instead of `0/?`.
"""

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
)
from rich.table import Column
from rich.text import Text

from ganforge._sse import Event


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def format_losses(losses: dict[str, Any] | None) -> str:
    if not losses:
        return ""
    return " ".join(f"{name}={value:.3f}" if isinstance(value, (int, float)) else f"{name}={value}"
                    for name, value in losses.items())


LABEL_WIDTH = 22
BAR_WIDTH = 12


class StepColumn(ProgressColumn):
    """`step/total` once the job reports it; until then its status (`queued`, `running`)."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(task.fields.get("status") or "queued", style="progress.remaining")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


def _text(template: str, **column: Any) -> TextColumn:
    return TextColumn(template, markup=False, table_column=Column(no_wrap=True, overflow="ellipsis", **column))


def progress_columns() -> list[ProgressColumn]:
    return [
        SpinnerColumn(),
        _text("{task.description}", max_width=LABEL_WIDTH),
        BarColumn(bar_width=BAR_WIDTH),
        StepColumn(),
        _text("ETA {task.fields[eta]}"),
        _text("{task.fields[rate]}"),
        _text("{task.fields[losses]}", ratio=1),  # the rest of the line, cut first
    ]


class JobProgress:
    """Renders a job's events on stderr; usable as a context manager. With `enabled=False` it
    still records the last progress it saw (`last`), and draws nothing."""

    def __init__(self, label: str, *, enabled: bool = True, console: Console | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.last: dict[str, Any] | None = None
        self.registered: str | None = None
        self._console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> "JobProgress":
        if self.enabled and self._progress is None:
            self._progress = Progress(*progress_columns(), console=self._console, transient=False, expand=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None, status="queued", losses="", rate="",
                                                 eta="--:--")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def on_event(self, event: Event) -> None:
        data = event.data if isinstance(event.data, dict) else {}
        if event.event == "progress":
            self.last = data.get("progress") or data
        elif event.event == "registered":
            self.registered = data.get("model")
        if self._progress is None:
            return
        if event.event == "status":
            self._progress.update(self._task, status=data.get("status") or "queued")
        elif event.event == "progress" and self.last:
            step, total = self.last.get("step"), self.last.get("total")
            rate = self.last.get("images_per_sec")
            self._progress.update(
                self._task, completed=step or 0, total=total, losses=format_losses(self.last.get("losses")),
                rate=f"{rate:g} img/s" if rate else "", eta=format_eta(self.last.get("eta_s")),
            )
        elif event.event == "registered" and self.registered:
            self._progress.console.print(f"registered {self.registered}")
        elif event.event == "end":
            status = data.get("status", "")
            self._progress.update(self._task, status=status, description=f"{self.label} {status}")
            if status == "succeeded" and self._progress.tasks[0].total:
                self._progress.update(self._task, completed=self._progress.tasks[0].total, eta=format_eta(0))
