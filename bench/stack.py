"""One isolated GANForge as separate processes: its own Redis on a free port, one worker
(`-Q inference`) and the API, plus the counters a benchmark reads around a load level
(CPU seconds per process, Redis commands)."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import redis

from service.local_redis import LocalRedis, free_port, start_redis
from service.run_local import worker_command
from workers.presence import live_workers

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    state_dir: Path
    env_overrides: dict[str, str]
    worker_concurrency: int = 8
    redis_server: LocalRedis | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    api_url: str | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GANFORGE_REDIS_URL": self.redis_server.url,
            "GANFORGE_STATE_DIR": str(self.state_dir),
            "GANFORGE_LOG_LEVEL": "WARNING",  # a log line per job would be part of what we measure
            **self.env_overrides,
        }

    def start(self) -> "Stack":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.redis_server = start_redis(self.state_dir / "redis")
        try:
            self._start_worker()
            self._start_api()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = (self.state_dir / f"{name}.log").open("w")
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def _start_worker(self) -> None:
        command = worker_command(queues="inference", concurrency=self.worker_concurrency, name="bench")
        command[command.index("--loglevel") + 1] = "WARNING"
        process = self._spawn("worker", command, self.env)
        client = redis.Redis.from_url(self.redis_server.url)
        deadline = time.monotonic() + 90
        while not any(w.get("pid") == process.pid for w in live_workers(client)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: see {self.state_dir / 'worker.log'}")
            time.sleep(0.2)

    def _start_api(self) -> None:
        port = free_port()
        process = self._spawn("api", [sys.executable, "-m", "service.app"], {**self.env, "GANFORGE_PORT": str(port)})
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.api_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not start: see {self.state_dir / 'api.log'}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.redis_server is not None:
            self.redis_server.stop()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *_) -> None:
        self.stop()

    # -- counters around a load level ---------------------------------------------------------

    def counters(self) -> dict:
        """CPU seconds of each process so far, and Redis commands served so far."""
        pids = {name: p.pid for name, p in self.processes.items()}
        pids["redis"] = self.redis_server.process.pid
        cpu = {}
        for name, pid in pids.items():
            try:
                times = psutil.Process(pid).cpu_times()
                cpu[name] = times.user + times.system
            except psutil.Error:
                cpu[name] = float("nan")
        stats = redis.Redis.from_url(self.redis_server.url).info("commandstats")
        commands = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
        return {"cpu_s": cpu, "redis_commands": commands}


def counter_delta(before: dict, after: dict, requests: int) -> dict:
    """Per request: CPU milliseconds of each process and Redis commands (the top ones named)."""
    requests = max(requests, 1)
    cpu = {name: (after["cpu_s"][name] - before["cpu_s"][name]) * 1e3 / requests for name in after["cpu_s"]}
    commands = {
        name: (calls - before["redis_commands"].get(name, 0)) / requests
        for name, calls in after["redis_commands"].items()
    }
    commands.pop("info", None)  # our own probe
    total = sum(commands.values())
    top = dict(sorted(((k, round(v, 2)) for k, v in commands.items() if v > 0), key=lambda kv: -kv[1])[:8])
    return {"cpu_ms_per_request": cpu, "redis_commands_per_request": total, "redis_top_commands": top}
