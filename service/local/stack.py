"""The whole picture on one machine as separate processes: a Redis server (the project's own
unless one is named), Celery workers and the API.

`make run` supervises it (`python -m service.local`), the integration tests and the benchmarks
start the same picture on free ports with a state folder of their own.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from service.core import keys
from service.core.api_keys import ApiKeyStore, local_admin_key
from service.core.presence import live_workers
from service.core.redis_clients import sync_client
from service.core.routing import ALL_QUEUES
from service.local.plan import WorkerSpec
from service.local.processes import stop_process
from service.local.redis_server import (
    LocalRedis,
    LocalSentinelGroup,
    free_port,
    start_redis,
    start_sentinel_group,
)

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


ALL_QUEUES_ARG = ",".join(ALL_QUEUES)
EXIT_NOTE_TTL_S = 24 * 3600  # long past any redelivery of the jobs the process held


def serving_processes(parent_pid: int) -> set[int]:
    """The processes uvicorn's parent `parent_pid` serves with (none: it serves alone)."""
    try:
        children = Path(f"/proc/{parent_pid}/task/{parent_pid}/children").read_text().split()
    except OSError:
        return set()
    return {int(pid) for pid in children if _is_spawned(int(pid))}


def _is_spawned(pid: int) -> bool:
    """A process multiprocessing spawned to serve (not its resource tracker)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def exit_description(returncode: int) -> str:
    """A process's end as Popen reports it: `exit code 3`, or `signal 9 (SIGKILL)`."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"signal {-returncode} ({signal.Signals(-returncode).name})"
    except ValueError:
        return f"signal {-returncode}"


def worker_command(*, queues: str = ALL_QUEUES_ARG, concurrency: int = 8, name: str = "ganforge",
                   loglevel: str = "INFO", pool: str = "threads", prefetch_multiplier: int | None = None) -> list[str]:
    # Threads, not prefork: concurrent requests must meet in one process to share a batch, and a
    # job runs in the process whose presence, receipts and leases name it. A training worker is
    # the same with one thread (one training per process) and a prefetch of one.
    prefetch = ["--prefetch-multiplier", str(prefetch_multiplier)] if prefetch_multiplier else []
    return [
        sys.executable, "-m", "celery", "-A", "workers.main", "worker",
        "-Q", queues, "-P", pool, "-c", str(concurrency), *prefetch, "-n", f"{name}@%h",
        "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]


def api_command() -> list[str]:
    return [sys.executable, "-m", "service.api.app"]


@dataclass
class Child:
    """One supervised process: how to start it again, and when it last started."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path | None
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    died_at: float | None = None
    restarts: int = 0  # in a row, each soon after its start

    def start(self) -> subprocess.Popen:
        out = self.log_path.open("a") if self.log_path else None
        try:
            self.process = subprocess.Popen(self.command, cwd=REPO, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT if out else None)
        finally:  # the child has its own copy: a restarted child must not leave one open here each time
            if out is not None:
                out.close()
        self.started_at = time.monotonic()
        self.died_at = None
        return self.process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def is_worker(self) -> bool:
        return "celery" in self.command

    def stop_gracefully(self, grace_s: float) -> int:
        """SIGTERM, then SIGKILL if it has not exited `grace_s` later; answers its exit status."""
        return stop_process(self.process, grace_s, name=self.name)


@dataclass
class LocalStack:
    """One isolated GANForge: Redis, state folder, workers, API.

    `redis_url` names a Redis to use; without it the stack starts its own (append-only file under
    the state folder, so a restart of redis-server loses no accepted job).
    """

    state_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    redis_url: str | None = None
    log_to_files: bool = True
    redis_server: LocalRedis | None = None  # the primary, when `sentinel_group` holds it
    sentinel_group: LocalSentinelGroup | None = None  # replicas and Sentinels (start_redis(replicas=N))
    children: dict[str, Child] = field(default_factory=dict)
    api_url: str | None = None
    make_admin_key: bool = True  # a local admin key under the state folder (make run on loopback, tests)
    admin_key: str | None = None

    def start_redis(self, maxmemory: str = "512mb", bind: tuple[str, ...] = (), replicas: int = 0) -> str:
        """The stack's own Redis unless `redis_url` names one; with `replicas`, a primary, that many
        replicas and three Sentinels, and the URL is their `redis+sentinel://` one."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.redis_url is None and replicas:
            self.sentinel_group = start_sentinel_group(self.state_dir / "redis", replicas=replicas, maxmemory=maxmemory)
            self.redis_server = self.sentinel_group.primary
            self.redis_url = self.sentinel_group.url
        elif self.redis_url is None:
            self.redis_server = start_redis(self.state_dir / "redis", maxmemory=maxmemory, bind=bind)
            self.redis_url = self.redis_server.url
        if self.make_admin_key and self.admin_key is None:
            self.register_admin_key()
        return self.redis_url

    def register_admin_key(self) -> str:
        """The stack's admin key (made on first use, kept in state_dir/admin-key), registered in its
        Redis again: for a test that swaps in an empty redis-server."""
        self.admin_key = local_admin_key(ApiKeyStore(self.redis), self.state_dir)
        return self.admin_key

    def kill_redis(self) -> None:
        """SIGKILL the stack's own redis-server (a crash)."""
        self.redis_server.kill()

    def restart_redis(self) -> None:
        """Start the stack's redis-server again on the same port and data folder: it replays its
        append-only file, and the workers and the API reconnect to the same URL."""
        old = self.redis_server
        old.kill()
        self.redis_server = start_redis(self.state_dir / "redis", port=old.port, maxmemory=old.maxmemory,
                                        bind=old.bind)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GANFORGE_REDIS_URL": self.redis_url or "",
            "GANFORGE_STATE_DIR": str(self.state_dir),
            **self.extra_env,
        }

    @property
    def redis(self) -> redis.Redis:
        return sync_client(self.redis_url)

    @property
    def processes(self) -> list[subprocess.Popen]:
        return [child.process for child in self.children.values() if child.process is not None]

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> Child:
        child = Child(name, command, env, self.state_dir / f"{name}.log" if self.log_to_files else None)
        self.children[name] = child
        child.start()
        return child

    def start_worker(self, queues: str = ALL_QUEUES_ARG, concurrency: int = 8, *, name: str | None = None,
                     loglevel: str = "INFO", wait_s: float = 90, wrap: tuple[str, ...] = (),
                     redis_url: str | None = None, env: dict[str, str] | None = None, pool: str = "threads",
                     prefetch_multiplier: int | None = None) -> subprocess.Popen:
        """A worker process; `wrap` prefixes its command (`ip netns exec NS`: a worker on another
        network), `redis_url` is the stack's Redis as that worker reaches it, and `env` is added to
        the stack's environment (a device: `CUDA_VISIBLE_DEVICES`, `GANFORGE_DEVICE`)."""
        name = name or f"worker-{sum(n.startswith('worker') for n in self.children)}"
        command = [*wrap, *worker_command(queues=queues, concurrency=concurrency, name=name, loglevel=loglevel,
                                          pool=pool, prefetch_multiplier=prefetch_multiplier)]
        child_env = {**self.env, **(env or {})}
        if redis_url:
            child_env["GANFORGE_REDIS_URL"] = redis_url
        child = self._spawn(name, command, child_env)
        if wait_s:
            self.wait_for_worker(child, wait_s)
        return child.process

    def start_planned(self, plan: list[WorkerSpec], *, loglevel: str = "INFO", wait_s: float = 120) -> None:
        """The workers of a plan (service/local/plan.py: `make run`'s), started together, then
        waited for until each has announced itself."""
        for spec in plan:
            self.start_worker(spec.queues, spec.concurrency, name=spec.name, loglevel=loglevel, wait_s=0,
                              env=spec.env, pool=spec.pool, prefetch_multiplier=spec.prefetch_multiplier)
        deadline = time.monotonic() + wait_s
        for spec in plan:
            self.wait_for_worker(self.children[spec.name], max(1.0, deadline - time.monotonic()))

    def wait_for_worker(self, child: Child, wait_s: float = 90) -> None:
        deadline = time.monotonic() + wait_s
        while not any(w.get("pid") == child.pid for w in live_workers(self.redis)):
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: see {child.log_path}")
            time.sleep(0.2)

    def start_api(self, port: int | None = None, host: str = "127.0.0.1", wait_s: float = 60) -> str:
        port = port or free_port()
        child = self._spawn("api", api_command(), {**self.env, "GANFORGE_PORT": str(port), "GANFORGE_HOST": host})
        self.api_url = f"http://127.0.0.1:{port}"
        if wait_s:
            self.wait_for_api(child, wait_s)
        return self.api_url

    def wait_for_api(self, child: Child, wait_s: float = 60) -> None:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not start: see {child.log_path}")
            time.sleep(0.2)

    @property
    def auth_headers(self) -> dict[str, str]:
        """`Authorization: Bearer` with the stack's admin key (its own, or GANFORGE_ADMIN_KEY)."""
        key = self.admin_key or self.env.get("GANFORGE_ADMIN_KEY")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def client(self, key: str | None = None) -> httpx.Client:
        """An HTTP client on the API sending the stack's admin key, or `key`."""
        headers = {"Authorization": f"Bearer {key}"} if key else self.auth_headers
        return httpx.Client(base_url=self.api_url, timeout=60, headers=headers)

    # -- supervision (make run) -------------------------------------------------------------------

    def restart_dead(self, *, backoff_s: float = 1.0, max_backoff_s: float = 30.0) -> list[str]:
        """Start again every child that exited; one that keeps dying soon after its start waits
        twice as long each time (up to `max_backoff_s`). Answers the names restarted."""
        restarted = []
        now = time.monotonic()
        for child in self.children.values():
            code = child.process.poll()
            if code is None:
                continue
            if child.died_at is None:
                child.died_at = now
                child.restarts = child.restarts + 1 if now - child.started_at < max_backoff_s else 1
                how = exit_description(code)
                log.warning("%s (pid %d) ended with %s; restarting it", child.name, child.pid, how)
                self._note_exit(child, how)
            if now - child.died_at >= min(max_backoff_s, backoff_s * 2 ** (child.restarts - 1)):
                child.start()
                log.warning("%s restarted (pid %d)", child.name, child.pid)
                restarted.append(child.name)
        return restarted

    def _note_exit(self, child: Child, how: str) -> None:
        """Tell Redis how a worker process ended, under its presence id (`host:pid`), so a job it
        died running can say so when it fails as a poison job (workers/poison.py)."""
        try:
            self.redis.set(keys.worker_exit(f"{socket.gethostname()}:{child.pid}"), how, ex=EXIT_NOTE_TTL_S)
        except redis.RedisError as error:  # Redis away: the job will only say how often its worker stopped
            log.warning("could not note how %s ended: %s", child.name, error)

    # -- rolling restarts (`python -m service.local restart api|workers`) --------------------------

    def restart_api(self, wait_s: float = 120.0, grace_s: float = 60.0) -> None:
        """Replace the API's processes. Several (GANFORGE_API_PROCESSES > 1) are replaced with no
        request failed: SIGHUP makes uvicorn's parent start each replacement and wait until it serves
        before stopping the one it replaces, on the same listening socket (service/api/server.py).
        A lone process is stopped gracefully and started again; connections are refused meanwhile."""
        child = self.children["api"]
        before = serving_processes(child.pid)
        if not before:
            child.stop_gracefully(grace_s)
            child.start()
            self.wait_for_api(child, wait_s)
            return
        child.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + wait_s
        while (now := serving_processes(child.pid)) & before or len(now) < len(before):
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API's processes were not all replaced: see {child.log_path}")
            time.sleep(0.2)
        log.info("API processes %s replaced by %s", sorted(before), sorted(now))

    def restart_workers(self, wait_s: float = 120.0, grace_s: float = 300.0) -> list[str]:
        """Replace every worker, one at a time: the replacement first, until it announces itself,
        then SIGTERM to the old one, which stops fetching, finishes the jobs it holds (a training
        checkpoints and hands its job back, to resume on another worker) and acknowledges only
        those; killed if it is still running `grace_s` later. Answers the names replaced."""
        replaced = []
        for name, old in list(self.children.items()):
            if not old.is_worker or old.process.poll() is not None:
                continue  # a dead one is restart_dead's
            new = Child(old.name, old.command, old.env, old.log_path)
            new.start()
            self.wait_for_worker(new, wait_s)
            self.children[name] = new
            code = old.stop_gracefully(grace_s)
            log.info("%s replaced (pid %d -> %d; the old one ended with %s)", name, old.pid, new.pid,
                     exit_description(code))
            replaced.append(name)
        return replaced

    # -- stop ---------------------------------------------------------------------------------------

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.sentinel_group is not None:
            self.sentinel_group.stop()
        elif self.redis_server is not None:
            self.redis_server.stop()

    def __enter__(self) -> "LocalStack":
        return self

    def __exit__(self, *_) -> None:
        self.stop()
