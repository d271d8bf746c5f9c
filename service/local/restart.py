"""`python -m service.local restart api|workers`: a rolling restart of a running `make run`.

The supervisor (`python -m service.local`) keeps its pid in state_dir/supervisor.pid; the restart
command sends it SIGUSR1 (the API) or SIGUSR2 (the workers), and the supervisor's loop replaces
those processes gracefully (LocalStack.restart_api, LocalStack.restart_workers) while the others
keep serving. The command returns at once; the supervisor's log tells how the restart went.
"""

import argparse
import os
import signal
from pathlib import Path

SIGNALS = {"api": signal.SIGUSR1, "workers": signal.SIGUSR2}
PID_FILE = "supervisor.pid"


class RestartRequests:
    """The supervisor's side: its pid file, and the restarts asked for since the last `take`."""

    def __init__(self, state_dir: Path):
        self.pid_file = state_dir / PID_FILE
        state_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(str(os.getpid()))
        self._pending: list[str] = []
        for what, sig in SIGNALS.items():
            signal.signal(sig, lambda *_, what=what: self._pending.append(what))

    def take(self) -> list[str]:
        """What to restart, each once, in the order asked."""
        asked, self._pending = self._pending, []
        return list(dict.fromkeys(asked))

    def close(self) -> None:
        if self.pid_file.exists() and self.pid_file.read_text().strip() == str(os.getpid()):
            self.pid_file.unlink()


def request_restart(state_dir: Path, what: str) -> str:
    """Ask the supervisor of `state_dir` to restart `what`; answers what was done, or raises
    ProcessLookupError when no supervisor runs there."""
    pid_file = state_dir / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        raise ProcessLookupError(f"no `make run` supervisor found ({pid_file} is missing)") from None
    try:
        os.kill(pid, SIGNALS[what])
    except ProcessLookupError:
        raise ProcessLookupError(f"the supervisor named in {pid_file} (pid {pid}) is not running") from None
    return f"asked the supervisor (pid {pid}) to restart the {what}; its log tells how it goes"


def restart_command(argv: list[str], state_dir: Path) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.local restart",
                                     description="Rolling restart of a running `make run`: no request fails.")
    parser.add_argument("what", choices=sorted(SIGNALS), help="the API processes or the worker processes")
    args = parser.parse_args(argv)
    try:
        print(request_restart(state_dir, args.what))
    except ProcessLookupError as error:
        print(error)
        return 1
    return 0
