"""A progress bar for a job followed over SSE: step of total, losses, images/s and ETA (rich)."""

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
)

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


class JobProgress:
    """Renders a job's events on stderr; usable as a context manager. With `enabled=False` it
    still records the last progress it saw (`last`), and draws nothing."""

    def __init__(self, label: str, *, enabled: bool = True, console: Console | None = None):
        self.label = label
        self.enabled = enabled
        self.last: dict[str, Any] | None = None
        self.registered: str | None = None
        self._console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> "JobProgress":
        if self.enabled and self._progress is None:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[losses]}"),
                TextColumn("{task.fields[rate]}"),
                TextColumn("ETA {task.fields[eta]}"),
                console=self._console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(f"{self.label} queued", total=None, losses="", rate="", eta="--:--")
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
            self._progress.update(self._task, description=f"{self.label} {data.get('status', '')}")
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
            self._progress.update(self._task, description=f"{self.label} {status}")
            if status == "succeeded" and self._progress.tasks[0].total:
                self._progress.update(self._task, completed=self._progress.tasks[0].total, eta=format_eta(0))
