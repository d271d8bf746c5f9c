"""Redis commands and round trips per image, per process: `python -m bench.redis_commands`.

Starts an isolated stack (its own Redis, one inference worker, the API), warms it up, then sends
N sequential one-call /generate requests (`Accept: image/png`, `Prefer: wait`), each with a seed
of its own (a seeded miss: a cache lookup, then the job), and then the same N again (hits).
Redis's MONITOR records every command; each is put down to the process that owns the client's
port (api, worker, or other). Commands a Lua script runs are counted apart (`lua`).

A round trip is counted as a run of consecutive commands on one connection with no gap over
ROUND_TRIP_GAP_S between them (a pipeline or a MULTI/EXEC arrives as one run); an estimate, to
check against the code. `--trace FILE` writes the last miss's and hit's commands, by process.
"""

import argparse
import json
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil
import redis

from bench.stack import Stack

MODEL = "mnist-cdcgan"
# Commands of one pipeline reach Redis in one read and run back to back (a few µs apart); a client's
# next round trip comes after its answer was read and the next request built (far more than this).
ROUND_TRIP_GAP_S = 150e-6
IMAGE = {"Accept": "image/png", "Prefer": "wait=10"}


class Monitor:
    """MONITOR on its own connection, in a thread, until `stop`."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.lines: list[dict] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._stop = False

    def start(self) -> "Monitor":
        self._thread.start()
        self._ready.wait(5)
        return self

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            try:
                for line in monitor.listen():
                    if self._stop:
                        return
                    self.lines.append(line)
            except (redis.ConnectionError, OSError, ValueError):
                return

    def mark(self) -> int:
        """How many lines so far (a boundary between phases)."""
        return len(self.lines)

    def stop(self) -> None:
        self._stop = True  # the daemon thread ends with the next line, or with the process


def port_owners(stack: Stack) -> dict[int, str]:
    """Local TCP port -> the stack's process (api, worker) that holds a connection on it."""
    owners: dict[int, str] = {}
    for name, child in stack.children.items():
        try:
            root = psutil.Process(child.pid)
        except psutil.Error:
            continue
        for member in [root, *root.children(recursive=True)]:
            try:
                for connection in member.net_connections(kind="tcp"):
                    if connection.laddr:
                        owners[connection.laddr.port] = name
            except psutil.Error:
                continue
    return owners


def tally(lines: list[dict], owners: dict[int, str], requests: int) -> dict:
    """Per process: commands (Lua's apart), round trips, top commands, each per request."""
    commands: Counter = Counter()
    lua: Counter = Counter()
    trips: Counter = Counter()
    names: dict[str, Counter] = defaultdict(Counter)
    last_client, last_time = None, 0.0
    for line in lines:
        if line.get("client_type") == "lua" or line.get("client_address") == "lua":
            lua[owner_of(last_client, owners)] += 1
            continue
        client = (line.get("client_address"), line.get("client_port"))
        who = owner_of(client, owners)
        command = str(line.get("command", "")).split(" ", 1)[0].upper()
        if command in ("MONITOR", "PING") and who == "other":
            continue
        commands[who] += 1
        names[who][command] += 1
        moment = float(line.get("time") or 0.0)
        if client != last_client or moment - last_time > ROUND_TRIP_GAP_S:
            trips[who] += 1
        last_client, last_time = client, moment
    per = max(requests, 1)
    return {who: {"commands": round(commands[who] / per, 2), "lua_commands": round(lua[who] / per, 2),
                  "round_trips": round(trips[who] / per, 2),
                  "top": {k: round(v / per, 2) for k, v in names[who].most_common(12)}}
            for who in sorted(set(commands) | set(lua))}


def trace(lines: list[dict], owners: dict[int, str]) -> str:
    out, last = [], None
    for line in lines:
        lua = line.get("client_type") == "lua"
        who = "  lua" if lua else owner_of((line.get("client_address"), line.get("client_port")), owners)
        moment = float(line.get("time") or 0.0)
        gap = "" if last is None else f"+{(moment - last) * 1e6:7.0f}us"
        last = moment
        out.append(f"{gap:>11} {who:7} {str(line.get('command'))[:140]}")
    return "\n".join(out)


def owner_of(client, owners: dict[int, str]) -> str:
    if client is None or client[1] is None:
        return "other"
    try:
        return owners.get(int(client[1]), "other")
    except (TypeError, ValueError):
        return "other"


def send(api, seeds: list[int]) -> None:
    for seed in seeds:
        response = api.post("/generate", json={"model": MODEL, "n": 1, "seed": seed}, headers=IMAGE)
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith("image/png"):
            raise RuntimeError(f"seed {seed}: {response.status_code} {response.text[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_commands", description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8, help="the worker's")
    parser.add_argument("--out", type=Path, default=None, help="a JSON file for the figures")
    parser.add_argument("--trace", type=Path, default=None, help="a text file for the commands of a few requests")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gf-redis-commands-") as state_dir, \
            Stack(Path(state_dir), worker_concurrency=args.concurrency) as stack, stack.client() as api:
        send(api, list(range(10_000, 10_020)))  # warm: the model's session, every connection opened
        time.sleep(0.5)
        owners = port_owners(stack)
        monitor = Monitor(stack.redis_url).start()
        time.sleep(0.2)
        base = 1_000_000 + int(time.time()) % 1_000_000 * 1000
        seeds = list(range(base, base + args.requests))
        start = monitor.mark()
        send(api, seeds)
        time.sleep(0.5)  # the worker's ack and its last bookkeeping
        middle = monitor.mark()
        send(api, seeds)  # the same seeds again: cache hits
        time.sleep(0.3)
        end = monitor.mark()
        owners.update(port_owners(stack))  # connections opened meanwhile
        monitor.stop()
        result = {"requests": args.requests, "miss": tally(monitor.lines[start:middle], owners, args.requests),
                  "hit": tally(monitor.lines[middle:end], owners, args.requests)}
        if args.trace:
            args.trace.write_text(trace(monitor.lines[middle - 40 * 3:middle], owners) + "\n--- hits ---\n"
                                  + trace(monitor.lines[end - 40 * 3:end], owners))
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
