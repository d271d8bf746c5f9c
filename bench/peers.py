"""`python -m bench.peers`: issue 25's side-by-side run — GANForge and TorchServe on the same ONNX file.

The 64x64 DCGAN of bench/heavy.py (`bench-dcgan64`, the PyTorch examples' generator, 3.6 M
parameters, exported once per run) is served
- by GANForge: a stack of its own per round (bench/stack.py: Redis, one inference worker, the
  API), one call per image (`POST /generate`, n = 1, `Accept: image/png`, `Prefer: wait=30`);
- by TorchServe 0.12, in a virtual environment of its own under the results folder
  (`--out`/peers/venv, made on first use: torchserve, torch-model-archiver, onnxruntime, numpy,
  pillow and torch 2.13.0, the CPU wheel on this machine's disk), Java 17 from the system, with
  bench/peers_handler.py (latent from the seed as GANForge draws it, ONNX Runtime with GANForge's
  worker's threads and options, uint8, GANForge's PNG encoder at its level); token auth off, no
  config snapshots, no downloads, logs at WARN as GANForge's are (`GANFORGE_LOG_LEVEL=WARNING`);
  registered twice, `dcgan64_b1` (batch 1, for c = 1) and `dcgan64_b32` (batch 32, 10 ms, for
  c > 1), one backend worker each.

Every request asks for a seed no other request asked for (bench/peers_load.py: the project's
load generator, bench/load.py, with a fresh seed per request). Rounds alternate the order of the
two (GANForge first in even rounds); each round starts its stack, warms it (untimed), runs
c = 1, 8, 32, 64 and stops it, so only one of them is up at a time. CPU per image of every
process (utime + stime from /proc/<pid>/stat before and after each level, over each process
tree): GANForge's API, worker and Redis; TorchServe's frontend (java) and its backend workers
(python); the load generator's own apart. Then GANForge's cache hits (one seeded request
repeated): c = 1 and c = 8. The summary takes each figure's median over rounds; the targets of
issue 25 are evaluated on it (and the c=32 ratio per round too).

Without Java 17 or when the install fails, TorchServe is skipped with the reason in the results
and GANForge is measured alone. Writes bench/results/peers-<date>.json and .md (also printed).
`--quick`: one round of short levels, a smoke run.
"""

import argparse
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

from bench import heavy, machine
from bench.lean import inspect
from bench.peers_load import SEED_MARK
from bench.scenarios import PREFER
from bench.stack import Stack
from models.inference.sessions import shared_process_threads
from service.core.settings import Settings, load_settings
from service.local.redis_server import free_port
from service.local.stack import REPO

RESULTS = Path(__file__).resolve().parent / "results"
HANDLER = Path(__file__).resolve().parent / "peers_handler.py"
TORCHSERVE_PACKAGES = ["torchserve==0.12.*", "torch-model-archiver", "onnxruntime", "numpy", "pillow",
                       "pyyaml",  # imported by TorchServe's backend workers, not among its declared dependencies
                       "torch==2.13.0"]  # a bare `torch` would be a multi-GB CUDA build
TS_VERSION = "1.0"
TS_MODELS = {  # name: (batch size, max batch delay ms); c = 1 runs on the first, c > 1 on the second
    "dcgan64_b1": (1, 0),
    "dcgan64_b32": (32, 10),
}
IMAGE = {"Accept": "image/png"}
CACHE_SEED = 12345
PARITY_SEED = 2025  # one picture asked of both: the same bytes?
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU of process trees, from /proc ----------------------------------------------------------------

def process_table() -> dict[int, tuple[int, float, str]]:
    """Every process now: pid -> (parent pid, CPU seconds so far (utime + stime), command name)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()  # fields[0] is the state (field 3 of stat)
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, name)
    return table


def children(table: dict, pid: int) -> list[int]:
    return [child for child, (parent, _, _) in table.items() if parent == pid]


def tree_cpu_s(table: dict, pid: int) -> float:
    """CPU seconds of a process and its live descendants."""
    if pid not in table:
        return float("nan")
    return table[pid][1] + sum(tree_cpu_s(table, child) for child in children(table, pid))


# -- GANForge ----------------------------------------------------------------------------------------

class GanForge:
    """One GANForge stack (bench/stack.py) with bench-dcgan64 in its own registry."""

    name = "GANForge"

    def __init__(self, state_dir: Path, model: heavy.HeavyModel, settings: Settings):
        model.register(state_dir / "artifacts" / "models")
        self.stack = Stack(state_dir, {"GANFORGE_ARTIFACTS_DIR": str(state_dir / "artifacts")},
                           worker_concurrency=settings.worker_concurrency)

    def __enter__(self) -> "GanForge":
        self.stack.start()
        return self

    def __exit__(self, *_) -> None:
        self.stack.stop()

    def request(self, concurrency: int, seed: int = SEED_MARK) -> tuple[str, dict, dict]:
        return (f"{self.stack.api_url}/generate", {"model": heavy.NAME, "n": 1, "seed": seed},
                {**PREFER, **self.stack.auth_headers, **IMAGE})

    def counters(self) -> dict:
        table = process_table()
        pids = {"api": self.stack.children["api"].pid, "worker": self.stack.children["worker"].pid,
                "redis": self.stack.redis_server.process.pid}
        cpu = {name: tree_cpu_s(table, pid) for name, pid in pids.items()}
        return {"cpu_s": cpu, "redis_commands": self.stack.counters()["redis_commands"]}


# -- TorchServe --------------------------------------------------------------------------------------

def java_17() -> tuple[str | None, str | None]:
    """(`java -version`'s first line, None) when the system's Java is 17 or newer, else (None, why not)."""
    java = shutil.which("java")
    if java is None:
        return None, "no `java` on PATH (TorchServe 0.12 needs Java 17; Debian: apt-get install openjdk-17-jre-headless)"
    answer = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    text = (answer.stderr or answer.stdout).strip()
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    major = int(match.group(1)) if match else 0
    if major == 1 and match.group(2):  # "1.8.0"
        major = int(match.group(2))
    if major < 17:
        return None, f"Java 17 or newer needed by TorchServe 0.12, found: {text.splitlines()[0] if text else java}"
    return text.splitlines()[0], None


def torchserve_venv(home: Path) -> tuple[Path | None, dict | str]:
    """The venv's python and the versions in it, made on first use; or (None, why not)."""
    venv = home / "venv"
    marker = venv / "ganforge-packages.json"
    python = venv / "bin" / "python"
    if not (marker.exists() and json.loads(marker.read_text()) == TORCHSERVE_PACKAGES and python.exists()):
        shutil.rmtree(venv, ignore_errors=True)
        home.mkdir(parents=True, exist_ok=True)
        log = home / "pip.log"
        print(f"[peers] installing TorchServe into {venv} (log: {log})", flush=True)
        with log.open("w") as out:
            made = subprocess.run([sys.executable, "-m", "venv", str(venv)], stdout=out, stderr=subprocess.STDOUT, check=False)
            installed = made.returncode == 0 and subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *TORCHSERVE_PACKAGES],
                stdout=out, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode == 0
        if not installed:
            tail = log.read_text().strip().splitlines()[-5:]
            return None, f"installing {' '.join(TORCHSERVE_PACKAGES)} failed: {' / '.join(tail)}"
        marker.write_text(json.dumps(TORCHSERVE_PACKAGES))
    versions = subprocess.run(
        [str(python), "-c", ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
                             "['torchserve', 'torch-model-archiver', 'onnxruntime', 'numpy', 'pillow', 'torch']}))")],
        capture_output=True, text=True, timeout=60, check=False)
    if versions.returncode != 0:
        return None, f"the venv at {venv} is broken: {versions.stderr.strip()[-500:]}"
    return python, json.loads(versions.stdout)


def archive(python: Path, model: heavy.HeavyModel, store: Path, *, threads: int, png_compress_level: int) -> None:
    """One .mar per registration, each carrying the ONNX file, the handler and its YAML."""
    store.mkdir(parents=True, exist_ok=True)
    signature = model.manifest.signature
    config = store.parent / "model-config.yaml"
    config.write_text("\n".join([
        "# bench/peers.py: read by bench/peers_handler.py (section `ganforge`)",
        "ganforge:",
        f"  repo: {json.dumps(str(REPO))}",
        f"  threads: {threads}",
        f"  png_compress_level: {png_compress_level}",
        f"  latent_dim: {signature.latent_dim}",
        f"  input: {signature.inputs[0]}",
        f"  output: {signature.output}",
    ]) + "\n")
    for name in TS_MODELS:
        subprocess.run([str(python.parent / "torch-model-archiver"), "--model-name", name, "--version", TS_VERSION,
                        "--serialized-file", str(model.onnx_path), "--handler", str(HANDLER),
                        "--config-file", str(config), "--export-path", str(store), "--force"],
                       check=True, capture_output=True, text=True, timeout=300)


QUIET_LOG4J = """<?xml version="1.0" encoding="UTF-8"?>
<!-- bench/peers.py: TorchServe's loggers at WARN (GANForge's bench stacks log at WARNING) -->
<Configuration>
  <Appenders>
    <File name="ts_log" fileName="${env:LOG_LOCATION:-logs}/ts_log.log">
      <PatternLayout pattern="%d{ISO8601} [%-5p] %t %c - %m%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Logger name="ACCESS_LOG" level="warn"/>
    <Logger name="MODEL_LOG" level="warn"/>
    <Logger name="MODEL_METRICS" level="warn"/>
    <Logger name="TS_METRICS" level="warn"/>
    <Logger name="io.netty" level="error"/>
    <Logger name="org.apache" level="off"/>
    <Root level="warn"><AppenderRef ref="ts_log"/></Root>
  </Loggers>
</Configuration>
"""


class TorchServe:
    """TorchServe on free 127.0.0.1 ports, both registrations loaded at start, one worker each."""

    name = "TorchServe"

    def __init__(self, home: Path, python: Path, store: Path, *, quiet_logs: bool = True):
        self.home, self.python, self.store, self.quiet_logs = home, python, store, quiet_logs
        self.launcher: subprocess.Popen | None = None
        self.java: int | None = None
        self.seen: set[int] = set()

    def __enter__(self) -> "TorchServe":
        shutil.rmtree(self.home, ignore_errors=True)
        for folder in ("tmp", "logs"):
            (self.home / folder).mkdir(parents=True)
        self.port, self.management_port, metrics_port = free_port(), free_port(), free_port()
        models = {name: {TS_VERSION: {"defaultVersion": True, "marName": f"{name}.mar", "minWorkers": 1, "maxWorkers": 1,
                                      "batchSize": batch, "maxBatchDelay": delay, "responseTimeout": 120}}
                  for name, (batch, delay) in TS_MODELS.items()}
        config = self.home / "config.properties"
        config.write_text("\n".join([
            f"inference_address=http://127.0.0.1:{self.port}",
            f"management_address=http://127.0.0.1:{self.management_port}",
            f"metrics_address=http://127.0.0.1:{metrics_port}",
            f"model_store={self.store}",
            "load_models=" + ",".join(f"{name}.mar" for name in TS_MODELS),
            f"models={json.dumps(models)}",
            "default_workers_per_model=1",
            "allowed_urls=file://.*",  # only the model store's archives: nothing is downloaded
            "install_py_dep_per_model=false",
            "disable_system_metrics=true",
        ]) + "\n")
        log4j = self.home / "log4j2.xml"
        log4j.write_text(QUIET_LOG4J)
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update({"PATH": f"{self.python.parent}:{env.get('PATH', '')}", "TMPDIR": str(self.home / "tmp"),
                    "TEMP": str(self.home / "tmp"), "LOG_LOCATION": str(self.home / "logs"),
                    "METRICS_LOCATION": str(self.home / "logs")})
        out = (self.home / "torchserve.out").open("w")
        self.launcher = subprocess.Popen(
            [str(self.python.parent / "torchserve"), "--start", "--foreground", "--ncs", "--disable-token-auth",
             "--model-store", str(self.store), "--ts-config", str(config),
             *(["--log-config", str(log4j)] if self.quiet_logs else [])],  # else the jar's own (DEBUG/INFO)
            cwd=self.home, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(240)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        ready: set[str] = set()
        log = self.home / "logs" / "ts_log.log"  # both configurations write it
        while ready != set(TS_MODELS):
            # A backend that failed twice in a row will not come up by waiting longer.
            failed = log.exists() and "Auto recovery failed" in log.read_text(errors="replace")
            if failed or self.launcher.poll() is not None or time.monotonic() > deadline:
                errors = [line for line in (log.read_text(errors="replace").splitlines() if log.exists() else [])
                          if "Error" in line or "ERROR" in line]
                raise RuntimeError(f"TorchServe did not start (see {log}): {' / '.join(errors[-3:])[-1500:]}")
            if self.java is None:
                self.java = next((pid for pid in children(process_table(), self.launcher.pid)), None)
            for name in set(TS_MODELS) - ready:
                try:
                    answer = httpx.get(f"http://127.0.0.1:{self.management_port}/models/{name}", timeout=2)
                    workers = answer.json()[0]["workers"] if answer.status_code == 200 else []
                except (httpx.HTTPError, ValueError, LookupError):
                    workers = []
                if workers and all(w.get("status") == "READY" for w in workers):
                    ready.add(name)
            time.sleep(0.5)

    def __exit__(self, *_) -> None:
        if self.launcher is None:
            return
        table = process_table()
        self.seen |= {self.launcher.pid, *self._descendants(table, self.launcher.pid)}
        if self.java is not None and self.launcher.poll() is None:
            os.kill(self.java, signal.SIGTERM)  # TorchServe stops its backend workers itself
        try:
            self.launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        for pid in sorted(self.seen, reverse=True):  # whatever of ours is left: only the pids we saw
            try:
                if pid in process_table():
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.launcher.poll() is None:
            self.launcher.wait(timeout=10)
        self.launcher = None

    @staticmethod
    def _descendants(table: dict, pid: int) -> list[int]:
        found = []
        for child in children(table, pid):
            found += [child, *TorchServe._descendants(table, child)]
        return found

    def request(self, concurrency: int, seed: int = SEED_MARK) -> tuple[str, dict, dict]:
        model = "dcgan64_b1" if concurrency == 1 else "dcgan64_b32"
        return f"http://127.0.0.1:{self.port}/predictions/{model}", {"seed": seed}, dict(IMAGE)

    def counters(self) -> dict:
        table = process_table()
        self.seen |= set(self._descendants(table, self.launcher.pid))
        backends = children(table, self.java)
        return {"cpu_s": {"frontend": table[self.java][1] if self.java in table else float("nan"),
                          "backend": sum(tree_cpu_s(table, pid) for pid in backends)},
                "backend_processes": len(backends)}


# -- one load level ----------------------------------------------------------------------------------

def level(peer, concurrency: int, timing: dict, *, seed: int = SEED_MARK, keep_jobs: bool = False) -> dict:
    """One closed-loop level (bench/peers_load.py in a process of its own), bracketed by CPU counters."""
    url, body, headers = peer.request(concurrency, seed)
    spec = {"url": url, "body": body, "headers": headers, "concurrency": concurrency,
            "seed_base": secrets.randbelow(2**32 - 2**26), **timing}
    began, before = time.perf_counter(), peer.counters()
    answer = subprocess.run([sys.executable, "-m", "bench.peers_load", json.dumps(spec)], cwd=REPO,
                            capture_output=True, text=True, check=False,
                            timeout=timing["warmup_s"] + timing["duration_s"] + 180)
    after, wall_s = peer.counters(), time.perf_counter() - began
    if answer.returncode != 0:
        raise RuntimeError(f"load generator failed: {answer.stderr[-2000:]}")
    result = json.loads(answer.stdout)
    images = max(result["requests_all"], 1)
    cpu = {name: (after["cpu_s"][name] - before["cpu_s"][name]) * 1e3 / images for name in after["cpu_s"]}
    result["cpu_ms_per_image"] = cpu
    result["cpu_ms_per_image_all"] = sum(cpu.values())
    result["loadgen_cpu_ms_per_image"] = result.pop("loadgen_cpu_s") * 1e3 / images
    # Cores busy while the level ran (warm-up and window): the peer's processes and the load generator.
    result["cores_used"] = (result["cpu_ms_per_image_all"] + result["loadgen_cpu_ms_per_image"]) * \
        result["requests_all"] / 1e3 / max(result["warmup_s"] + result["window_s"], 1e-9)
    result["level_wall_s"] = wall_s
    # Answers in the window other than 200, and 200s that were not a picture.
    result["errors"] = sum(v for k, v in result["statuses"].items() if k != "200") + max(
        0, result["statuses"].get("200", 0) - result["requests_ok"])
    if "redis_commands" in after:
        calls = {k: v - before["redis_commands"].get(k, 0) for k, v in after["redis_commands"].items() if k != "info"}
        result["redis_commands_per_image"] = sum(calls.values()) / images
    if "backend_processes" in after:
        result["backend_processes"] = after["backend_processes"]
    jobs = result.pop("job_ids_sample", [])
    if keep_jobs:
        result["job_ids_sample"] = jobs
    return result


def picture_sha256(peer, seed: int = PARITY_SEED) -> str | None:
    """The SHA-256 of the PNG one request for `seed` is answered (the same bytes from both peers?)."""
    url, body, headers = peer.request(1, seed)
    answer = httpx.post(url, json=body, headers=headers, timeout=60)
    ok = answer.status_code == 200 and answer.headers.get("content-type", "").startswith("image/png")
    return hashlib.sha256(answer.content).hexdigest() if ok else None


def run_ganforge(peer: GanForge, levels: list[int], timing: dict, cache_timing: dict) -> dict:
    level(peer, 8, {"warmup_s": 0.0, "duration_s": 2.0})  # loads the session; the API's first requests
    out = {"parity_png_sha256": picture_sha256(peer)}
    for c in levels:
        out[str(c)] = level(peer, c, timing)
    level(peer, 1, {"warmup_s": 0.0, "duration_s": 0.3, "requests": 1}, seed=CACHE_SEED)  # the miss that fills it
    for c in (1, 8):
        result = level(peer, c, cache_timing, seed=CACHE_SEED, keep_jobs=True)
        result.update({f"sampled_{k}": v for k, v in inspect(peer.stack, result.pop("job_ids_sample")).items()})
        out[f"cache_{c}"] = result
    return out


def run_torchserve(peer: TorchServe, levels: list[int], timing: dict) -> dict:
    level(peer, 1, {"warmup_s": 0.0, "duration_s": 1.0})  # the batch-1 registration, and the JVM's first requests
    level(peer, 8, {"warmup_s": 0.0, "duration_s": 2.0})  # the batch-32 one
    return {"parity_png_sha256": picture_sha256(peer), **{str(c): level(peer, c, timing) for c in levels}}


def say(peer_name: str, figures: dict) -> None:
    print(f"[peers]   {peer_name}: " + ", ".join(
        f"{key}: {r['requests_per_s']:.0f}/s p50 {r['p50_ms'] or 0:.1f} p99 {r['p99_ms'] or 0:.1f} "
        f"CPU {r['cpu_ms_per_image_all']:.2f} ms err {r['errors']}" for key, r in figures.items() if isinstance(r, dict)),
        flush=True)


# -- summary and targets -----------------------------------------------------------------------------

SUMMARY_KEYS = ("requests_per_s", "p50_ms", "p99_ms", "cpu_ms_per_image_all", "loadgen_cpu_ms_per_image",
                "cores_used", "redis_commands_per_image")


def summarize(rounds: list[dict]) -> dict:
    """The median over rounds of each figure, per peer and level; errors summed."""
    out: dict = {}
    for peer in ("ganforge", "torchserve"):
        per_level: dict = {}
        for round_ in rounds:
            for key, result in (round_.get(peer) or {}).items():
                if isinstance(result, dict):  # a level (not the parity digest)
                    per_level.setdefault(key, []).append(result)
        summary = {}
        for key, results in per_level.items():
            entry = {name: _median([r.get(name) for r in results]) for name in SUMMARY_KEYS}
            entry["cpu_ms_per_image"] = {name: _median([r["cpu_ms_per_image"].get(name) for r in results])
                                         for name in results[0]["cpu_ms_per_image"]}
            entry["errors"] = sum(r["errors"] for r in results)
            entry["rounds"] = len(results)
            if key.startswith("cache_"):
                entry["sampled_cached_share"] = _median([r.get("sampled_cached_share") for r in results])
            summary[key] = entry
        if summary:
            out[peer] = summary
    return out


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.median(values)) if values else None


def targets(summary: dict, rounds: list[dict]) -> list[dict]:
    """Issue 25's targets on the medians (the c=32 throughput ratio also per round)."""
    gf, ts = summary.get("ganforge", {}), summary.get("torchserve", {})
    rows = []

    def add(target: str, wanted: str, measured: str, met: bool | None) -> None:
        rows.append({"target": target, "wanted": wanted, "measured": measured, "met": met})

    if ts:
        ratio = gf["32"]["requests_per_s"] / ts["32"]["requests_per_s"]
        per_round = [r["ganforge"]["32"]["requests_per_s"] / r["torchserve"]["32"]["requests_per_s"]
                     for r in rounds if r.get("ganforge") and r.get("torchserve")]
        add("c=32 req/s, GANForge / TorchServe (batch 32, 10 ms)", "≥ 1.2×",
            f"{gf['32']['requests_per_s']:,.0f} / {ts['32']['requests_per_s']:,.0f} = {ratio:.2f}× "
            f"(rounds: {', '.join(f'{x:.2f}×' for x in per_round)})", ratio >= 1.2)
        add("c=32 p99, GANForge ≤ TorchServe", "≤ 1×",
            f"{gf['32']['p99_ms']:.1f} / {ts['32']['p99_ms']:.1f} ms = {gf['32']['p99_ms'] / ts['32']['p99_ms']:.2f}×",
            gf["32"]["p99_ms"] <= ts["32"]["p99_ms"])
        add("c=1 p50, GANForge ≤ TorchServe (batch 1)", "≤ 1×",
            f"{gf['1']['p50_ms']:.2f} / {ts['1']['p50_ms']:.2f} ms = {gf['1']['p50_ms'] / ts['1']['p50_ms']:.2f}×",
            gf["1"]["p50_ms"] <= ts["1"]["p50_ms"])
        add("CPU per image at c=32, all processes, GANForge ≤ TorchServe", "≤ 1×",
            f"{gf['32']['cpu_ms_per_image_all']:.2f} / {ts['32']['cpu_ms_per_image_all']:.2f} ms = "
            f"{gf['32']['cpu_ms_per_image_all'] / ts['32']['cpu_ms_per_image_all']:.2f}×",
            gf["32"]["cpu_ms_per_image_all"] <= ts["32"]["cpu_ms_per_image_all"])
    if "cache_1" in gf:
        add("cache hit p50 at c=1", "≤ 2 ms", f"{gf['cache_1']['p50_ms']:.2f} ms", gf["cache_1"]["p50_ms"] <= 2.0)
        add("cache hits at c=8", "≥ 1,000 req/s", f"{gf['cache_8']['requests_per_s']:,.0f} req/s",
            gf["cache_8"]["requests_per_s"] >= 1000)
    digests = {r[peer].get("parity_png_sha256") for r in rounds for peer in ("ganforge", "torchserve") if r.get(peer)}
    if ts:
        add(f"the same PNG bytes for seed {PARITY_SEED} from both (every round)", "one SHA-256",
            ", ".join(sorted(str(d)[:12] for d in digests)), len(digests) == 1 and None not in digests)
    errors = {peer: sum(entry["errors"] for entry in levels.values()) for peer, levels in summary.items()}
    add("no error at any level", "0", ", ".join(f"{k}: {v}" for k, v in errors.items()), not any(errors.values()))
    return rows


# -- the run -------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=6.0, help="measured seconds per level")
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--cache-duration", type=float, default=4.0)
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one round, short levels")
    parser.add_argument("--no-torchserve", action="store_true", help="GANForge alone")
    parser.add_argument("--torchserve-default-logs", action="store_true",
                        help="TorchServe with its stock log4j2 configuration (DEBUG/INFO, an access line per "
                             "request) instead of WARN")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup, args.cache_duration = 1, 2.0, 0.5, 1.5
    args.out = args.out.resolve()  # redis-server runs elsewhere: its folders must be absolute
    levels = [int(c) for c in args.levels.split(",")]
    if 1 not in levels or 32 not in levels:
        parser.error("--levels must hold 1 and 32 (the targets' levels)")
    began = time.perf_counter()
    settings = load_settings()
    threads = settings.ort_threads or shared_process_threads()  # what GANForge's worker session gets
    timing = {"warmup_s": args.warmup, "duration_s": args.duration}
    cache_timing = {"warmup_s": args.warmup, "duration_s": min(args.duration, args.cache_duration)}
    home = args.out / "peers"
    results: dict = {
        "machine": machine.describe(),
        "method": {**timing, "cache_duration_s": cache_timing["duration_s"], "rounds": args.rounds, "levels": levels,
                   "model": heavy.NAME, "ort_intra_op_threads": threads, "png_compress_level": settings.png_compress_level,
                   "ganforge": {"max_batch_size": settings.max_batch_size, "max_batch_delay_ms": settings.max_batch_delay_ms,
                                "coalesce": settings.coalesce, "worker_concurrency": settings.worker_concurrency},
                   "torchserve": {name: {"batch_size": b, "max_batch_delay_ms": d} for name, (b, d) in TS_MODELS.items()},
                   "torchserve_logs": "stock log4j2.xml" if args.torchserve_default_logs else "WARN"},
    }
    print("[peers] exporting bench-dcgan64", flush=True)
    model = heavy.HeavyModel()
    results["method"]["model_parameters"] = model.params
    python = None
    if args.no_torchserve:
        results["torchserve_skipped"] = "--no-torchserve"
    else:
        java, why = java_17()
        if java is None:
            results["torchserve_skipped"] = why
        else:
            results["java"] = java
            python, versions = torchserve_venv(home)
            if python is None:
                results["torchserve_skipped"] = versions
            else:
                results["torchserve_versions"] = versions
                archive(python, model, home / "model-store", threads=threads,
                        png_compress_level=settings.png_compress_level)
    if results.get("torchserve_skipped"):
        print(f"[peers] TorchServe skipped: {results['torchserve_skipped']}", flush=True)
    stacks = home / "stacks"
    shutil.rmtree(stacks, ignore_errors=True)
    results["rounds"] = []
    for index in range(args.rounds):
        round_: dict = {"order": []}
        order = ["ganforge", "torchserve"] if index % 2 == 0 else ["torchserve", "ganforge"]
        for peer in order:
            if peer == "torchserve" and python is None:
                continue
            round_["order"].append(peer)
            print(f"[peers] round {index}: {peer}", flush=True)
            if peer == "ganforge":
                with GanForge(stacks / f"ganforge-{index}", model, settings) as stack:
                    round_[peer] = run_ganforge(stack, levels, timing, cache_timing)
                say("GANForge", round_[peer])
            else:
                try:
                    with TorchServe(stacks / f"torchserve-{index}", python, home / "model-store",
                                    quiet_logs=not args.torchserve_default_logs) as server:
                        round_[peer] = run_torchserve(server, levels, timing)
                except RuntimeError as error:  # recorded; GANForge goes on alone
                    results["torchserve_skipped"] = f"round {index}: {error}"
                    print(f"[peers] TorchServe failed: {error}", flush=True)
                    python = None
                    continue
                say("TorchServe", round_[peer])
        results["rounds"].append(round_)
    model.close()
    results["summary"] = summarize(results["rounds"])
    results["targets"] = targets(results["summary"], results["rounds"])
    results["total_s"] = time.perf_counter() - began
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"peers-{stamp}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / f"peers-{stamp}.md").write_text(markdown(results))
    print(markdown(results))
    print(f"[peers] wrote {args.out / f'peers-{stamp}.json'} and .md in {results['total_s']:.0f} s", flush=True)


# -- Markdown ------------------------------------------------------------------------------------------

def _f(value, digits=1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _cpu(entry: dict | None) -> str:
    if not entry:
        return "–"
    parts = " / ".join(f"{_f(v, 2)}" for v in entry["cpu_ms_per_image"].values())
    return f"{_f(entry['cpu_ms_per_image_all'], 2)} ({parts})"


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [(f"bench.peers — {m['date_utc']}, {m['cpu_model']}, {m['usable_cores']} usable cores, load "
              f"{m['load_avg_at_start']} at the start; {results['method']['rounds']} round(s), "
              f"{results['method']['duration_s']} s a level after {results['method']['warmup_s']} s of warm-up; "
              f"medians over rounds."), ""]
    if results.get("torchserve_skipped"):
        lines += [f"**TorchServe skipped**: {results['torchserve_skipped']}", ""]
    elif results.get("torchserve_versions"):
        lines += [(f"TorchServe venv: {json.dumps(results['torchserve_versions'])}; {results.get('java')}; "
                   f"TorchServe logs: {results['method']['torchserve_logs']}"), ""]
    gf, ts = results["summary"].get("ganforge", {}), results["summary"].get("torchserve", {})
    lines += [("| c | GANForge req/s | TorchServe req/s | ratio | GANForge p50 / p99 ms | TorchServe p50 / p99 ms | "
               "GANForge CPU ms/img (API / worker / Redis) | TorchServe CPU ms/img (frontend / backend) | "
               "cores used GF / TS | load gen CPU ms/img GF / TS | Redis cmds/img | errors GF / TS |"),
              "|" + "---|" * 12]
    for key in results["method"]["levels"]:
        g, t = gf.get(str(key)), ts.get(str(key))
        ratio = f"{g['requests_per_s'] / t['requests_per_s']:.2f}×" if g and t else "–"
        lines.append(
            f"| {key}{' (TS batch 1)' if key == 1 else ''} | {_f(g and g['requests_per_s'])} | "
            f"{_f(t and t['requests_per_s'])} | {ratio} | "
            f"{_f(g and g['p50_ms'], 2)} / {_f(g and g['p99_ms'], 1)} | {_f(t and t['p50_ms'], 2)} / {_f(t and t['p99_ms'], 1)} | "
            f"{_cpu(g)} | {_cpu(t)} | {_f(g and g['cores_used'], 2)} / {_f(t and t['cores_used'], 2)} | "
            f"{_f(g and g['loadgen_cpu_ms_per_image'], 2)} / {_f(t and t['loadgen_cpu_ms_per_image'], 2)} | "
            f"{_f(g and g['redis_commands_per_image'])} | {g['errors'] if g else '–'} / {t['errors'] if t else '–'} |")
    for c in (1, 8):
        g = gf.get(f"cache_{c}")
        if g:
            lines.append(f"| {c}, GANForge cache hits | {_f(g['requests_per_s'])} | – | – | {_f(g['p50_ms'], 2)} / "
                         f"{_f(g['p99_ms'], 1)} | – | {_cpu(g)} | – | {_f(g['cores_used'], 2)} / – | "
                         f"{_f(g['loadgen_cpu_ms_per_image'], 2)} / – | {_f(g['redis_commands_per_image'])} | "
                         f"{g['errors']} / – |")
    if any(r.get("torchserve") for r in results["rounds"]):
        lines += ["", "| round (order) | c | GANForge req/s | TorchServe req/s | ratio | GANForge p50 | TorchServe p50 |",
                  "|---|---|---|---|---|---|---|"]
        for index, r in enumerate(results["rounds"]):
            for key in results["method"]["levels"]:
                g, t = (r.get("ganforge") or {}).get(str(key)), (r.get("torchserve") or {}).get(str(key))
                if g and t:
                    lines.append(f"| {index} ({' then '.join(r['order'])}) | {key} | {_f(g['requests_per_s'])} | "
                                 f"{_f(t['requests_per_s'])} | {g['requests_per_s'] / t['requests_per_s']:.2f}× | "
                                 f"{_f(g['p50_ms'], 2)} | {_f(t['p50_ms'], 2)} |")
    lines += ["", "| target (issue 25) | wanted | measured | met |", "|---|---|---|---|"]
    for row in results["targets"]:
        met = "–" if row["met"] is None else ("**yes**" if row["met"] else "no")
        lines.append(f"| {row['target']} | {row['wanted']} | {row['measured']} | {met} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
