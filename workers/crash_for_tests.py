"""Test-only: a job that kills its worker, as a native crash in ONNX Runtime or an out-of-memory
kill would, so the tests can make a poison job (tests/integration/test_poison_jobs.py).

`GANFORGE_TEST_CRASH_ON_MODEL=<model name>` in a worker's environment makes the process exit at
once, with CRASH_EXIT_CODE and no cleanup, when it starts a job on that model. Unset (always,
outside the tests), it does nothing.
"""

import os

from service.core.jobs import Job

CRASH_EXIT_CODE = 86
_CRASH_ON_MODEL = os.environ.get("GANFORGE_TEST_CRASH_ON_MODEL") or None


def crash_if_told(job: Job) -> None:
    if _CRASH_ON_MODEL is not None and job.model is not None and job.model.name == _CRASH_ON_MODEL:
        os._exit(CRASH_EXIT_CODE)
