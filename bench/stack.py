"""One isolated GANForge as separate processes: its own Redis on a free port, one worker
(`-Q inference`) and the API, plus the counters a benchmark reads around a load level
(CPU seconds per process, Redis commands)."""

from dataclasses import dataclass

import psutil
import redis

from service.local.stack import LocalStack


@dataclass
class Stack(LocalStack):
    """The local stack with one worker on `inference` only, quiet logs, and counters."""

    worker_concurrency: int = 8

    def start(self) -> "Stack":
        # A log line per job would be part of what we measure.
        self.extra_env = {"GANFORGE_LOG_LEVEL": "WARNING", **self.extra_env}
        self.start_redis()
        try:
            self.start_worker("inference", self.worker_concurrency, name="worker", loglevel="WARNING")
            self.start_api()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> "Stack":
        return self.start()

    # -- counters around a load level ---------------------------------------------------------

    def counters(self) -> dict:
        """CPU seconds of each process so far, and Redis commands served so far."""
        pids = {name: child.pid for name, child in self.children.items()}
        pids["redis"] = self.redis_server.process.pid
        cpu = {}
        for name, pid in pids.items():
            try:
                cpu[name] = _tree_cpu_s(psutil.Process(pid))
            except psutil.Error:
                cpu[name] = float("nan")
        stats = redis.Redis.from_url(self.redis_server.url).info("commandstats")
        commands = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
        return {"cpu_s": cpu, "redis_commands": commands}


def _tree_cpu_s(process: psutil.Process) -> float:
    """CPU seconds of a process and its live children (uvicorn's API processes under its master)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


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
