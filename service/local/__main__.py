"""`make run`: the whole picture on one machine, supervised.

Starts a Redis of its own unless GANFORGE_REDIS_URL names one (append-only file under the state
folder), the worker processes of service/local/plan.py — an inference worker, one with a small
concurrency for the heavy inference queue (both on the first GPU when there is one), and a
training worker per GPU (pinned with CUDA_VISIBLE_DEVICES) or one on the CPU, each running one
training at a time — and the API; a worker or API that dies is started again while the others
keep serving; Ctrl-C stops them all. `python -m service.local restart api|workers` replaces the API
or the workers one process at a time, gracefully, while the rest keep serving (service/local/restart.py).
"""

import logging
import signal
import sys
import time

from service.core.api_keys import LOCAL_ADMIN_FILE, ApiKeyStore
from service.core.devices import visible_gpus
from service.core.logs import configure_logging
from service.core.settings import load_settings
from service.local.plan import PlanError, describe_plan, worker_plan
from service.local.restart import RestartRequests, restart_command
from service.local.stack import LocalStack

log = logging.getLogger("ganforge.local")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings = load_settings()
    if argv[:1] == ["restart"]:  # `python -m service.local restart api|workers` (service/local/restart.py)
        raise SystemExit(restart_command(argv[1:], settings.state_dir))
    configure_logging(settings.log_format, settings.log_level)
    detected = visible_gpus()
    try:
        plan = worker_plan(settings, detected)
    except PlanError as error:
        log.error("%s", error)
        raise SystemExit(2) from None
    # On loopback the stack makes a local admin key (kept in state_dir/admin-key); beyond it, keys
    # must come from GANFORGE_ADMIN_KEY or `python -m service.core.api_keys create`.
    stack = LocalStack(settings.state_dir, redis_url=settings.redis_url or None, log_to_files=False,
                       make_admin_key=settings.binds_loopback)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    restarts = RestartRequests(settings.state_dir)
    try:
        stack.start_redis(maxmemory=settings.redis_maxmemory, replicas=settings.redis_replicas)
        if stack.sentinel_group:
            log.info("redis-server started with %d replica(s) and 3 Sentinels at %s (data in %s)",
                     settings.redis_replicas, stack.redis_url, settings.state_dir / "redis")
        elif stack.redis_server:
            log.info("redis-server started at %s (append-only file in %s)", stack.redis_url, settings.state_dir / "redis")
        if not settings.binds_loopback and settings.admin_key is None and not ApiKeyStore(stack.redis).count():
            log.error("refusing to serve on %s without API keys: set GANFORGE_ADMIN_KEY, or create keys with "
                      "`python -m service.core.api_keys create`, or bind to 127.0.0.1", settings.host)
            raise SystemExit(2)
        log.info("GPUs detected: %s; workers: %s", ",".join(detected) or "none", describe_plan(plan))
        stack.start_planned(plan)
        stack.start_api(port=settings.port, host=settings.host)
        key_line = (f"admin key: {stack.admin_key}  (kept in {settings.state_dir / LOCAL_ADMIN_FILE}; "
                    "send it as `Authorization: Bearer <key>`)\n" if stack.admin_key else "")
        print(
            f"\nGANForge: http://{settings.host}:{settings.port}  (API docs: /docs, models: /models)\n{key_line}"
            f"try: curl -s -X POST localhost:{settings.port}/generate -H 'Prefer: wait=30' "
            f"-H 'Authorization: Bearer {stack.admin_key or '<your key>'}' "
            "-H 'content-type: application/json' -d '{\"model\":\"mnist-cdcgan\",\"n\":16,\"seed\":7,\"labels\":[3]}'\n",
            flush=True,
        )
        while not stopping:
            stack.restart_dead()
            for what in restarts.take():
                _restart(stack, what, settings.api_grace_s)
            time.sleep(0.5)
    finally:
        restarts.close()
        stack.stop()


def _restart(stack: LocalStack, what: str, api_grace_s: float) -> None:
    log.info("rolling restart of the %s", what)
    try:
        if what == "api":
            stack.restart_api(grace_s=api_grace_s + 10)
        else:
            stack.restart_workers()
    except Exception:  # the supervisor keeps supervising; what died is restarted as ever
        log.exception("the rolling restart of the %s failed", what)
    else:
        log.info("rolling restart of the %s done", what)


if __name__ == "__main__":
    main()
