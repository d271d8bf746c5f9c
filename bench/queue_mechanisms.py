"""`python -m bench.queue_mechanisms`: issue 13's queue mechanisms measured alone, side by side.

No model and no API: N jobs of trivial work (one small status write per job in Redis) go through
a real `celery worker` (the project's flags: threads pool, its concurrency) on a private Redis,
with the project's Celery app (service/core/queue.py: json, acks_late tasks, its transport), as
(a) one message per job, (b) messages carrying k job ids to one task (what the API's coalescer
sends, service/api/coalescer.py), (c) celery-batches: one message per job, the worker's Batches
task running every k buffered requests (or every few ms) and acking each request.

Then, one job at a time: the round trip publish → worker → pub/sub answer, the latency Celery
and Redis alone add to a request at c = 1 (no HTTP, no model).

Per case: wall time to drain N jobs; CPU per job of the sending process, of the worker process
tree and of Redis (INFO cpu); Redis commands per job (INFO commandstats, our own probes taken
out). Cases alternate over rounds in one run: on a shared machine only the ratios count.
Writes bench/results/queue_mechanisms.{json,md}. celery-batches is optional (case (c) is skipped
with a message when it is absent): `pip install --no-deps celery-batches==0.11` (0.11 declares
celery<5.7; --no-deps keeps the project's Celery 5.7).

This module is also the worker's Celery app (`celery -A bench.queue_mechanisms worker`), so
the worker runs exactly the tasks defined here; QUEUE_BENCH_WORKER tells the two roles apart.
"""

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import redis

from service.core.queue import create_celery
from service.core.settings import Settings
from service.local.redis_server import start_redis
from service.local.stack import REPO, worker_command

APP_MODULE = "bench.queue_mechanisms"  # not __name__: that is __main__ under -m
QUEUE = "queue-bench"
ONE_TASK = "queue_bench.one"  # (a) one job id per message
MANY_TASK = "queue_bench.many"  # (b) several job ids per message, as the project's `.many` tasks
BATCHES_TASK = "queue_bench.batches"  # (c) celery-batches
PING_TASK = "queue_bench.ping"  # one job at a time, its end announced: the latency Celery adds
DONE_CHANNEL = "queue-bench-done"
STATUS_DB = 1  # job status keys live apart from the broker's db 0, so DBSIZE counts finished jobs
READY_DB = 2
STATUS = '{"status":"succeeded"}'  # about the size of a status field write
WORKER_ROLE = "QUEUE_BENCH_WORKER"
FLUSH_EVERY_ENV = "QUEUE_BENCH_FLUSH_EVERY"
FLUSH_INTERVAL_ENV = "QUEUE_BENCH_FLUSH_INTERVAL_S"

try:
    from celery_batches import Batches
except ImportError as missing:
    Batches = None
    BATCHES_MISSING = f"celery-batches is not installed ({missing}); case (c) skipped"
else:
    BATCHES_MISSING = None


def build_app(redis_url: str):
    return create_celery(Settings(redis_url=redis_url))


def _register_tasks(app, redis_url: str) -> None:
    from celery.signals import worker_ready, worker_shutdown

    status = redis.Redis.from_url(redis_url, db=STATUS_DB)

    def write_status(job_id: str) -> None:
        status.set(f"job:{job_id}", STATUS, ex=3600)

    @app.task(name=ONE_TASK, acks_late=True)
    def one(job_id: str) -> None:
        write_status(job_id)

    @app.task(name=MANY_TASK, acks_late=True)
    def many(job_ids: list[str], each: list[dict] | None = None) -> None:
        for job_id in job_ids:
            write_status(job_id)

    @app.task(name=PING_TASK, acks_late=True)
    def ping(job_id: str) -> None:
        write_status(job_id)
        status.publish(DONE_CHANNEL, job_id)  # as a job's end wakes the API's waiters

    batch_sizes: list[int] = []  # what celery-batches really flushed, told to the bench at shutdown

    if Batches is not None:
        @app.task(name=BATCHES_TASK, base=Batches, acks_late=True,
                  flush_every=int(os.environ.get(FLUSH_EVERY_ENV, "8")),
                  flush_interval=float(os.environ.get(FLUSH_INTERVAL_ENV, "0.005")))
        def batches(requests) -> None:
            for request in requests:  # the library acks each request after this returns
                write_status(request.args[0])
            if not requests[0].args[0].startswith("warm-"):
                batch_sizes.append(len(requests))

    @worker_shutdown.connect(weak=False)
    def _tell_batches(**_) -> None:
        if batch_sizes:
            redis.Redis.from_url(redis_url, db=READY_DB).set("batch_sizes", json.dumps(batch_sizes))

    @worker_ready.connect(weak=False)
    def _ready(**_) -> None:
        redis.Redis.from_url(redis_url, db=READY_DB).set("ready", os.getpid())


# `celery -A bench.queue_mechanisms worker` finds this app; the bench process builds its own.
if os.environ.get(WORKER_ROLE):
    app = build_app(os.environ["GANFORGE_REDIS_URL"])
    _register_tasks(app, os.environ["GANFORGE_REDIS_URL"])


# -- the bench side ----------------------------------------------------------------------------


class Probe:
    """Our own Redis connections (opened before any counter is read, so no connect-time
    commands land in a window) and a tally of the commands they send, taken out afterwards."""

    def __init__(self, url: str):
        self.broker = redis.Redis.from_url(url, db=0)
        self.status = redis.Redis.from_url(url, db=STATUS_DB)
        self.broker.ping()
        self.status.ping()
        self.sent = Counter()

    def call(self, client, command: str, *args):
        self.sent[command] += 1
        return client.execute_command(command.upper(), *args)

    def drained(self, jobs: int) -> bool:
        """Every job's status written, and every message acknowledged (the ack follows the task)."""
        return (self.call(self.status, "dbsize") >= jobs and self.call(self.broker, "llen", QUEUE) == 0
                and self.call(self.broker, "hlen", "unacked") == 0)

    def redis_counters(self) -> tuple[float, Counter]:
        self.sent["info"] += 2
        cpu = self.broker.info("cpu")
        stats = self.broker.info("commandstats")
        return cpu["used_cpu_user"] + cpu["used_cpu_sys"], Counter(
            {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()})


def tree_cpu_s(pid: int) -> float:
    process = psutil.Process(pid)
    total = 0.0
    for one in (process, *process.children(recursive=True)):
        try:
            times = one.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


class Worker:
    """One `celery worker` process with the project's flags, for one case."""

    def __init__(self, url: str, concurrency: int, log: Path, *, prefetch_multiplier: int | None = None,
                 flush_every: int = 8, flush_interval_s: float = 0.005):
        command = worker_command(queues=QUEUE, concurrency=concurrency, name="queue-bench", loglevel="WARNING")
        command[command.index("workers.main")] = APP_MODULE  # the project's flags, this module's tasks
        if prefetch_multiplier is not None:
            command += ["--prefetch-multiplier", str(prefetch_multiplier)]
        env = {**os.environ, WORKER_ROLE: "1", "GANFORGE_REDIS_URL": url, "GANFORGE_LOG_LEVEL": "WARNING",
               FLUSH_EVERY_ENV: str(flush_every), FLUSH_INTERVAL_ENV: str(flush_interval_s)}
        self.ready = ready = redis.Redis.from_url(url, db=READY_DB)
        ready.delete("ready", "batch_sizes")
        self.log = log.open("a")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not ready.get("ready"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the worker did not start; see {log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def batch_sizes(self) -> list[int]:
        """After stop: the sizes of the batches celery-batches ran (none for the other tasks)."""
        return json.loads(self.ready.get("batch_sizes") or "[]")


def send(celery, mechanism: str, job_ids: list[str], k: int) -> None:
    """Publish the jobs as the case says, the way the API does (send_task by name)."""
    if mechanism == "many":
        for start in range(0, len(job_ids), k):
            chunk = job_ids[start:start + k]
            celery.send_task(MANY_TASK, args=[chunk], kwargs={"each": [{} for _ in chunk]}, queue=QUEUE)
    else:
        name = ONE_TASK if mechanism == "one" else BATCHES_TASK
        for job_id in job_ids:
            celery.send_task(name, args=[job_id], queue=QUEUE)


def wait_drained(probe: Probe, jobs: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while not probe.drained(jobs):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{jobs} jobs not drained within {timeout_s} s")
        time.sleep(0.005)
    return time.perf_counter()


def measure(case: dict, *, url: str, celery, probe: Probe, jobs: int, concurrency: int, round_no: int,
            log: Path) -> dict:
    mechanism, k = case["mechanism"], case["k"]
    worker = Worker(url, concurrency, log, prefetch_multiplier=case.get("prefetch_multiplier"),
                    flush_every=k, flush_interval_s=case.get("flush_interval_s", 0.005))
    try:
        # Warm the worker's task path and the producer's connection, outside the counters.
        send(celery, mechanism, [f"warm-{i}" for i in range(max(k, 8))], k)
        wait_drained(probe, max(k, 8), 60)
        probe.call(probe.status, "flushdb")
        time.sleep(0.3)

        job_ids = [f"r{round_no}-{case['name']}-{i}" for i in range(jobs)]
        probe.sent.clear()
        redis_cpu0, commands0 = probe.redis_counters()
        worker_cpu0 = tree_cpu_s(worker.process.pid)
        start = time.perf_counter()
        producer0 = time.process_time()
        send(celery, mechanism, job_ids, k)
        producer_s = time.process_time() - producer0
        end = wait_drained(probe, jobs, 300)
        worker_cpu1 = tree_cpu_s(worker.process.pid)
        redis_cpu1, commands1 = probe.redis_counters()
        probe.call(probe.status, "flushdb")
    finally:
        worker.stop()
    batch_sizes = worker.batch_sizes()
    commands = commands1 - commands0
    commands.subtract(probe.sent)  # our DBSIZE/LLEN/HLEN/INFO polls are not the mechanism's
    commands = +commands
    return {
        "case": case["name"], "round": round_no,
        "wall_s": end - start,
        "producer_cpu_us_per_job": producer_s * 1e6 / jobs,
        "worker_cpu_us_per_job": (worker_cpu1 - worker_cpu0) * 1e6 / jobs,
        "redis_cpu_us_per_job": (redis_cpu1 - redis_cpu0) * 1e6 / jobs,
        "redis_commands_per_job": sum(commands.values()) / jobs,
        "redis_commands": {name: round(calls / jobs, 3) for name, calls in commands.most_common()},
        # Jobs per task run: k for coalesced messages by construction, measured for celery-batches.
        "jobs_per_run": (sum(batch_sizes) / len(batch_sizes)) if batch_sizes else k,
        "messages_per_job": 1 if mechanism != "many" else math.ceil(jobs / k) / jobs,
    }


def round_trips(url: str, celery, concurrency: int, log: Path, count: int) -> dict:
    """One job at a time (c = 1): publish, the worker runs it and announces its end on pub/sub,
    the sender wakes. The time Celery and Redis alone put between a request and its answer."""
    worker = Worker(url, concurrency, log)
    listener = redis.Redis.from_url(url, db=STATUS_DB).pubsub()
    listener.subscribe(DONE_CHANNEL)
    listener.get_message(timeout=5)  # the subscribe confirmation
    seconds = []
    try:
        for i in range(count + 50):  # the first 50 warm up
            started = time.perf_counter()
            celery.send_task(PING_TASK, args=[f"ping-{i}"], queue=QUEUE)
            while (message := listener.get_message(timeout=10)) is None or message["type"] != "message":
                if message is None:
                    raise TimeoutError("no answer to a ping task within 10 s")
            if i >= 50:
                seconds.append(time.perf_counter() - started)
    finally:
        listener.close()
        worker.stop()
    seconds.sort()
    return {"count": count, "p50_ms": seconds[len(seconds) // 2] * 1e3, "p90_ms": seconds[int(len(seconds) * 0.9)] * 1e3,
            "p99_ms": seconds[int(len(seconds) * 0.99)] * 1e3}


def cases(ks: list[int], flush_ms: list[float], concurrency: int) -> list[dict]:
    listed = [{"name": "one message per job", "mechanism": "one", "k": 1}]
    listed += [{"name": f"coalesced k={k}", "mechanism": "many", "k": k} for k in ks]
    if Batches is not None:
        # celery-batches only sees the messages the worker has prefetched, and with acks_late a
        # buffered message stays unacked, counting against the prefetch window: give it room for
        # two batches (its docs' advice), never less than Celery's default multiplier of 4.
        # A short flush interval bounds the latency a lone job pays; a longer one lets batches fill.
        listed += [{"name": f"celery-batches k={k}, {ms:g} ms", "mechanism": "batches", "k": k,
                    "flush_interval_s": ms / 1000,
                    "prefetch_multiplier": max(4, math.ceil(2 * k / concurrency))} for ms in flush_ms for k in ks]
    return listed


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def summarise(runs: list[dict], listed: list[dict]) -> list[dict]:
    rows = []
    for case in listed:
        mine = [run for run in runs if run["case"] == case["name"]]
        row = {"case": case["name"], "rounds": len(mine)}
        for field in ("wall_s", "jobs_per_run", "producer_cpu_us_per_job", "worker_cpu_us_per_job", "redis_cpu_us_per_job",
                      "redis_commands_per_job"):
            row[field] = median([run[field] for run in mine])
        row["worker_cpu_range"] = [min(run["worker_cpu_us_per_job"] for run in mine),
                                   max(run["worker_cpu_us_per_job"] for run in mine)]
        row["total_cpu_us_per_job"] = (row["producer_cpu_us_per_job"] + row["worker_cpu_us_per_job"]
                                       + row["redis_cpu_us_per_job"])
        row["redis_commands"] = mine[-1]["redis_commands"]
        row["prefetch"] = case.get("prefetch_multiplier", 4)
        rows.append(row)
    base = rows[0]
    for row in rows:
        row["worker_vs_one"] = row["worker_cpu_us_per_job"] / base["worker_cpu_us_per_job"]
        row["total_vs_one"] = row["total_cpu_us_per_job"] / base["total_cpu_us_per_job"]
    return rows


def markdown(result: dict) -> str:
    lines = [
        (f"N = {result['jobs']} jobs per case, {result['rounds']} rounds, cases alternated; worker `-P threads "
        f"-c {result['concurrency']}`; medians over rounds. Load average at start / end: "
        f"{result['loadavg_start']} / {result['loadavg_end']} ({result['cpus']} CPUs)."),
        "",
        ("| case | wall s | producer µs/job | worker µs/job (min–max) | Redis µs/job | total µs/job | worker vs (a) "
        "| total vs (a) | Redis cmds/job | jobs per task run | prefetch mult. |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        low, high = row["worker_cpu_range"]
        lines.append(
            f"| {row['case']} | {row['wall_s']:.2f} | {row['producer_cpu_us_per_job']:.0f} | "
            f"{row['worker_cpu_us_per_job']:.0f} ({low:.0f}–{high:.0f}) | {row['redis_cpu_us_per_job']:.0f} | "
            f"{row['total_cpu_us_per_job']:.0f} | {row['worker_vs_one']:.2f} | {row['total_vs_one']:.2f} | "
            f"{row['redis_commands_per_job']:.2f} | {row['jobs_per_run']:.1f} | {row['prefetch']} |")
    lines += ["", "Redis commands per job, by command (last round):", ""]
    for row in result["summary"]:
        top = ", ".join(f"{name} {calls:g}" for name, calls in row["redis_commands"].items())
        lines.append(f"- {row['case']}: {top}")
    if result.get("round_trip"):
        trip = result["round_trip"]
        lines += ["", (f"One job at a time through Celery (publish → worker runs it → its end announced on pub/sub → "
                       f"the sender wakes), {trip['count']} trips: p50 {trip['p50_ms']:.2f} ms, p90 "
                       f"{trip['p90_ms']:.2f} ms, p99 {trip['p99_ms']:.2f} ms.")]
    if result.get("batches_note"):
        lines += ["", f"celery-batches: {result['batches_note']}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--k", default="4,8,32", help="job ids per message / per batch")
    parser.add_argument("--concurrency", type=int, default=Settings().worker_concurrency)
    parser.add_argument("--batches-flush-ms", default="5,50", help="celery-batches flush intervals, each a case")
    parser.add_argument("--pings", type=int, default=500, help="c=1 round trips through Celery (0: skip)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.k.split(",")]

    flush_ms = [float(ms) for ms in args.batches_flush_ms.split(",")]
    listed = cases(ks, flush_ms, args.concurrency)
    intervals = " or ".join(f"{ms:g}" for ms in flush_ms)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "jobs": args.jobs, "rounds": args.rounds,
        "concurrency": args.concurrency, "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {name: _version(name) for name in ("celery", "kombu", "redis", "celery-batches")},
        "batches_note": BATCHES_MISSING or (f"flush every k requests or every {intervals} ms "
                                            "(one set of cases per interval)"),
    }
    if BATCHES_MISSING:
        print(BATCHES_MISSING)
    args.out.mkdir(parents=True, exist_ok=True)
    worker_log = args.out / "queue_mechanisms.worker.log"
    runs = []
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as state:
        server = start_redis(Path(state))
        try:
            celery = build_app(server.url)
            probe = Probe(server.url)
            for round_no in range(args.rounds):
                # Alternate the order too, so no case always follows the same neighbour.
                for case in (listed if round_no % 2 == 0 else listed[::-1]):
                    run = measure(case, url=server.url, celery=celery, probe=probe, jobs=args.jobs,
                                  concurrency=args.concurrency, round_no=round_no, log=worker_log)
                    print(f"round {round_no} {case['name']}: {run['wall_s']:.2f} s, worker "
                          f"{run['worker_cpu_us_per_job']:.0f} µs/job", flush=True)
                    runs.append(run)
            if args.pings:
                result["round_trip"] = round_trips(server.url, celery, args.concurrency, worker_log, args.pings)
                print(f"round trip through Celery, c=1: {result['round_trip']}", flush=True)
        finally:
            server.stop()
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["runs"] = runs
    result["summary"] = summarise(runs, listed)
    (args.out / "queue_mechanisms.json").write_text(json.dumps(result, indent=2))
    (args.out / "queue_mechanisms.md").write_text(markdown(result))
    print(markdown(result))
    return result


def _version(distribution: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
