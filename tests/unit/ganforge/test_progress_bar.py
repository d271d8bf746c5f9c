"""The training progress bar at 80 columns (issue 27, item 5): the step and the ETA stay in view
whatever the losses and the label, and before the first event it says what the job is doing."""

import io

from rich.console import Console

from ganforge._sse import Event
from ganforge.progress import JobProgress


def rendered(progress: JobProgress, width: int = 80) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(progress._progress.make_tasks_table(progress._progress.tasks))
    return console.file.getvalue().rstrip("\n").splitlines()


def watched(label: str = "train my-very-long-model-name-fashion-stylegan2") -> JobProgress:
    console = Console(file=io.StringIO(), width=80, color_system=None)
    return JobProgress(label, console=console).__enter__()


def test_before_the_first_event_it_says_queued_not_zero_of_unknown():
    progress = watched()
    try:
        (line,) = rendered(progress)
        assert "queued" in line and "0/?" not in line and "ETA --:--" in line
        progress.on_event(Event("status", {"status": "running"}))
        (line,) = rendered(progress)
        assert "running" in line and "0/?" not in line
    finally:
        progress.__exit__(None, None, None)


def test_step_and_eta_fit_80_columns_with_many_losses():
    progress = watched()
    try:
        losses = {f"loss_{name}": 0.123456 for name in ("d", "g", "r1", "path", "ppl", "adv", "cycle")}
        progress.on_event(Event("progress", {"progress": {"step": 1200, "total": 20000, "losses": losses,
                                                          "images_per_sec": 812.5, "eta_s": 3723}}))
        (line,) = rendered(progress)
        assert len(line) <= 80
        assert "1200/20000" in line and "ETA 1:02:03" in line and "812.5 img/s" in line
        assert "loss_d" in line  # the losses start, and are cut where the line ends
    finally:
        progress.__exit__(None, None, None)
