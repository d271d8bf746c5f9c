"""`make run`: the whole picture on one machine.

Starts a Redis of its own unless GANFORGE_REDIS_URL names one, one worker consuming both
queues, and the API; stops them all on Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import time

from service.local_redis import start_redis
from service.settings import load_settings


def worker_command(*, queues: str = "inference,training", concurrency: int = 8, name: str = "ganforge") -> list[str]:
    # Threads, not prefork: concurrent requests must meet in one process to share a batch.
    return [
        sys.executable, "-m", "celery", "-A", "workers.main", "worker",
        "-Q", queues, "-P", "threads", "-c", str(concurrency), "-n", f"{name}@%h",
        "--loglevel", "INFO", "--without-gossip", "--without-mingle",
    ]


def api_command() -> list[str]:
    return [sys.executable, "-m", "service.app"]


def main() -> None:
    settings = load_settings()
    env = dict(os.environ)
    redis_server = None
    if not settings.redis_url:
        redis_server = start_redis(settings.state_dir / "redis", maxmemory=settings.redis_maxmemory)
        env["GANFORGE_REDIS_URL"] = redis_server.url
        print(f"redis-server started at {redis_server.url} (data in {settings.state_dir / 'redis'})", flush=True)
    children = [
        subprocess.Popen(worker_command(concurrency=settings.worker_concurrency), env=env),
        subprocess.Popen(api_command(), env=env),
    ]
    print(
        f"\nGANForge: http://{settings.host}:{settings.port}  (API docs: /docs, models: /models)\n"
        f"try: curl -s -X POST localhost:{settings.port}/generate -H 'Prefer: wait=30' "
        "-H 'content-type: application/json' -d '{\"model\":\"mnist-cdcgan\",\"n\":16,\"seed\":7,\"labels\":[3]}'\n",
        flush=True,
    )
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_server:
            redis_server.stop()
    sys.exit(0 if stopping else 1)


if __name__ == "__main__":
    main()
