"""How uvicorn serves the API: how many processes share the port, and how each one stops.

- `GANFORGE_API_PROCESSES` processes accept on one listening socket that uvicorn's parent
  process holds. SIGHUP to that parent replaces them one at a time, each replacement serving
  before the old one is told to stop (a rolling restart): the socket never closes, so a client
  never sees a refused connection, and a connection waiting to be accepted goes to whichever
  process is accepting.
- Each process bounds its connections (`GANFORGE_API_MAX_CONNECTIONS`), how long a request's
  head and body may take to arrive and how long an idle keep-alive connection stays open
  (service/api/connections.py).
- SIGTERM to a process (or to the parent, which passes it on): it stops accepting, closes idle
  keep-alive connections, lets every request in flight finish — `Prefer: wait` and one-call
  picture answers included — for up to `GANFORGE_API_GRACE_S`, then ends what is left (event
  streams) and exits.
"""

import os
from functools import partial
from typing import Any

from service.api.connections import DeadlinedHttpProtocol
from service.core.settings import Settings

# A new process builds its app (model manifests, Redis clients) before it answers uvicorn's
# health check; on a busy machine that takes longer than uvicorn's 5 s default, which would
# abort a rolling restart and keep the old process.
READY_TIMEOUT_S = 60


def api_processes_for(cores: int) -> int:
    """One API process on a small machine (the worker needs the other core), else half the cores, at most 4."""
    return 1 if cores <= 2 else min(4, cores // 2)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the API, from the settings (the same for every process)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # ours (service.core.logs)
        "timeout_graceful_shutdown": settings.api_grace_s,
        "timeout_worker_healthcheck": READY_TIMEOUT_S,
        # Slow and hostile clients (service/api/connections.py; the per-key cap is KeyConcurrencyLimit).
        "limit_concurrency": settings.api_max_connections,
        "timeout_keep_alive": settings.api_keep_alive_s,
        "http": partial(DeadlinedHttpProtocol, header_timeout_s=settings.api_header_timeout_s,
                        body_timeout_s=settings.api_body_timeout_s),
    }


def serve(settings: Settings) -> None:
    import uvicorn

    processes = settings.api_processes or api_processes_for(len(os.sched_getaffinity(0)))
    if processes > 1:  # uvicorn's parent holds the socket; each process builds its own app
        uvicorn.run("service.api.app:create_app", factory=True, workers=processes, **server_options(settings))
    else:
        from service.api.app import create_app

        uvicorn.run(create_app(settings), **server_options(settings))
