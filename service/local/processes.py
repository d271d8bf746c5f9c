"""Stopping a child process the one way: SIGTERM, then SIGKILL if it is still there `grace_s` later."""

import logging
import subprocess

log = logging.getLogger(__name__)


def stop_process(process: subprocess.Popen, grace_s: float = 10, *, name: str | None = None) -> int:
    """Its exit status; with `name`, a warning when it had to be killed."""
    if process.poll() is not None:
        return process.returncode
    process.terminate()
    try:
        return process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        if name:
            log.warning("%s (pid %d) still running %g s after SIGTERM; killing it", name, process.pid, grace_s)
        process.kill()
        return process.wait()
