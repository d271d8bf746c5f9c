"""`python -m service.local restart api|workers` reaches the supervisor: its pid file names it, a
signal per target asks it, and each request is taken once."""

import os
import signal

import pytest

from service.local.restart import (
    SIGNALS,
    RestartRequests,
    request_restart,
    restart_command,
)


@pytest.fixture
def supervisor(tmp_path):
    """This test process as the supervisor (its signal handlers put back afterwards)."""
    before = {sig: signal.getsignal(sig) for sig in SIGNALS.values()}
    requests = RestartRequests(tmp_path)
    yield requests
    requests.close()
    for sig, handler in before.items():
        signal.signal(sig, handler)


def test_a_restart_request_reaches_the_supervisor_once(supervisor, tmp_path):
    assert (tmp_path / "supervisor.pid").read_text() == str(os.getpid())
    assert "restart the workers" in request_restart(tmp_path, "workers")
    request_restart(tmp_path, "api")
    request_restart(tmp_path, "workers")
    assert supervisor.take() == ["workers", "api"]
    assert supervisor.take() == []


def test_without_a_supervisor_the_command_says_so(tmp_path, capsys):
    assert restart_command(["api"], tmp_path) == 1
    assert "no `make run` supervisor found" in capsys.readouterr().out
    (tmp_path / "supervisor.pid").write_text("999999999")
    assert restart_command(["workers"], tmp_path) == 1
    assert "is not running" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        restart_command(["everything"], tmp_path)
