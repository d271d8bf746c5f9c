"""`python -m bench.gpu [--cpu] [--out DIR]`: issue 22's one prepared GPU check.

On a machine with a CUDA GPU, in one run (under 8 minutes on one H100 is the aim):
1. the environment: GPU, driver, torch / CUDA / cuDNN, onnxruntime and its providers, CPU;
2. every family trained `--steps` (200) steps at 64 px (SR on 128-px crops, pix2pix and CycleGAN
   at 128 px) in fp32 and in bf16 on the GPU: images/s after a warm-up, peak GPU memory;
3. DCGAN 64 px at batch 256 in bf16 with the GPU's utilisation sampled every 100 ms, and the same
   trainer on `--cpu-threads` (2) CPU threads;
4. generator floors at batch 1, 32, 64 and 256 (bench/gpu_serving.py), the Inception extractor;
5. the stack serving `/generate` against those floors, when the service's dependencies import;
6. every family's `--cpu-steps` (20) steps on the CPU (`--cpu-threads` threads), for the speedups.
Writes gpu-<host>-<date>.json (every number, rewritten after each phase, so a run cut short
leaves what it measured) and gpu-<host>-<date>.md (the tables, also printed) into `--out`
(default bench/results/). Targets are reported, never asserted.

`--cpu`: the same phases briefly on the CPU as the device (tiny configs at 32 px, 3 steps, batch 1
and 8, a short stack): a smoke run that the test suite runs so the check cannot rot. Its figures
are not performance figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import gpu_serving, gpu_training
from bench.gpu_training import FAMILIES, Scale, error_text
from bench.machine import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="a brief smoke run on the CPU (no GPU needed)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and the Markdown")
    parser.add_argument("--steps", type=int, default=None, help="steps per GPU run (200; --cpu: 3)")
    parser.add_argument("--cpu-steps", type=int, default=None, help="steps per CPU reference run (20; --cpu: 3)")
    parser.add_argument("--cpu-threads", type=int, default=None,
                        help="torch threads of the CPU reference runs (2; --cpu: 1 for every run)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma list of families to train")
    parser.add_argument("--no-stack", action="store_true", help="skip the stack")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="soft wall-clock budget; the CPU reference runs shrink to fit (GPU: 450)")
    return parser.parse_args(argv)


class Plan:
    """The sizes of one run: full on a GPU, tiny with --cpu."""

    def __init__(self, args: argparse.Namespace):
        self.smoke = args.cpu
        self.device = "cpu" if args.cpu else "cuda:0"
        self.scale = Scale(full=not args.cpu)
        self.steps = args.steps or (2 if args.cpu else 200)
        self.cpu_steps = args.cpu_steps or (2 if args.cpu else 20)
        # --cpu runs everything on one thread: on a small shared machine (CI, the 2-core dev box) two
        # OpenMP threads next to other busy processes spin against each other, up to 100x slower.
        self.cpu_threads = args.cpu_threads or (1 if args.cpu else 2)
        self.ort_threads = 1 if args.cpu else 0  # 0: ONNX Runtime's default, every usable core
        self.precisions = ("fp32", "bf16")
        self.cpu_families = ["dcgan"] if args.cpu else list(FAMILIES)  # --cpu: the device runs are CPU runs
        self.warmup = 1 if args.cpu else gpu_training.GPU_WARMUP_STEPS
        self.cpu_warmup = 1 if args.cpu else gpu_training.CPU_WARMUP_STEPS
        self.gpu_cap_s = None if args.cpu else 60.0  # per device run, shrunk to the phase's budget left
        self.gpu_phase_s = None if args.cpu else 200.0  # all device training runs together
        self.cpu_cap_s = None if args.cpu else 20.0  # per CPU reference run, shrunk to the budget left
        self.cpu_min_timed = 1  # a CPU step of a heavy family takes seconds: one timed step is a figure
        self.b256_batch = 16 if args.cpu else 256
        self.b256_cpu_cap_s = None if args.cpu else 40.0
        self.batches = [1, 8] if args.cpu else [1, 32, 64, 256]
        self.floor_batch = 8 if args.cpu else 64  # what the stack's levels are compared with
        self.rounds, self.round_s = (1, 0.05) if args.cpu else (3, 0.3)
        self.inception_images = 4 if args.cpu else 512
        self.inception_batches = [4] if args.cpu else [32, 256]
        self.stack = not args.no_stack
        self.stack_warmup_s, self.stack_duration_s = (0.1, 0.5) if args.cpu else (1.5, 5.0)
        many = 8 if args.cpu else 64
        self.stack_levels = ([] if args.cpu else [{"name": "n1_c1", "n": 1, "concurrency": 1}]) + [
            {"name": f"n1_c{many}", "n": 1, "concurrency": many},
            {"name": f"n{many}_c1", "n": many, "concurrency": 1},
        ] + ([] if args.cpu else [{"name": f"n{many}_c4", "n": many, "concurrency": 4}])
        self.stack_max_batch = many
        self.budget_s = args.budget_s or (None if args.cpu else 420.0)

    def describe(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "scale"} | {"scale": "full" if self.scale.full else "tiny"}


# -- the environment -------------------------------------------------------------------------------


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - not installed, or no __version__
        return None


def _nvidia_smi() -> dict | str:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "not found"
    try:
        answer = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20, check=False)
        rows = [line.split(", ") for line in answer.stdout.strip().splitlines() if line.strip()]
        return {"gpus": [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) >= 3]} \
            if answer.returncode == 0 else answer.stderr.strip()[-300:]
    except Exception as error:  # noqa: BLE001 - the environment is described as far as it can be
        return error_text(error)


def environment(device: str) -> dict:
    import torch

    env: dict[str, Any] = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        # fp32 runs use TF32 where these allow it (cuDNN convolutions do by default on Ampere and later)
        "tf32": {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
        "numpy": _version("numpy"),
        "onnx": _version("onnx"),
        "nvidia_smi": _nvidia_smi(),
    }
    try:
        import onnxruntime as ort

        env["onnxruntime"] = ort.__version__
        env["onnxruntime_providers"] = ort.get_available_providers()
        env["onnxruntime_device"] = ort.get_device()
    except Exception as error:  # noqa: BLE001 - a broken onnxruntime is a finding, not the end of the check
        env["onnxruntime"] = f"not importable: {error_text(error)}"
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                      "capability": f"{props.major}.{props.minor}", "multiprocessors": props.multi_processor_count,
                      "bf16_supported": torch.cuda.is_bf16_supported()}
        try:
            import pynvml

            pynvml.nvmlInit()
            driver = pynvml.nvmlSystemGetDriverVersion()
            env["driver"] = driver.decode() if isinstance(driver, bytes) else driver
        except Exception:  # noqa: BLE001 - no NVML: nvidia-smi's answer instead
            smi = env["nvidia_smi"]
            env["driver"] = smi["gpus"][0]["driver"] if isinstance(smi, dict) and smi["gpus"] else None
    else:
        env["gpu"] = None
        env["driver"] = None
    return env


# -- the phases ---------------------------------------------------------------------------------------


class Run:
    """One check: its plan, its results dict, where it writes them, and its clock."""

    def __init__(self, args: argparse.Namespace):
        self.plan = Plan(args)
        self.began = time.perf_counter()
        host = re.sub(r"[^A-Za-z0-9._-]", "-", platform.node() or "host")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        args.out.mkdir(parents=True, exist_ok=True)
        self.json_path = args.out / f"gpu-{host}-{stamp}.json"
        self.md_path = self.json_path.with_suffix(".md")
        self.families = [f.strip() for f in args.families.split(",") if f.strip()]
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise SystemExit(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
        self.results: dict[str, Any] = {"check": "bench.gpu (issue 22, item 7)",
                                        "mode": "cpu smoke (--cpu): not performance figures" if self.plan.smoke
                                        else "gpu", "plan": self.plan.describe(), "complete": False}

    def elapsed(self) -> float:
        return time.perf_counter() - self.began

    def save(self) -> None:
        self.results["elapsed_s"] = round(self.elapsed(), 1)
        self.json_path.write_text(json.dumps(self.results, indent=2, default=str) + "\n")

    def say(self, text: str) -> None:
        print(f"[bench.gpu {self.elapsed():6.1f}s] {text}", flush=True)

    def phase(self, key: str, fn) -> None:
        """Run one phase; its failure is recorded under its key and the check goes on."""
        began = time.perf_counter()
        try:
            self.results[key] = fn()
        except Exception as error:  # noqa: BLE001 - a failed phase is recorded, the next one runs
            import traceback

            failure = {"error": error_text(error), "traceback_tail": traceback.format_exc()[-1500:]}
            if isinstance(self.results.get(key), dict):  # what the phase measured before it failed stays
                self.results[key]["phase_error"] = failure
            else:
                self.results[key] = failure
        timings = self.results.setdefault("phase_s", {})
        timings[key] = round(timings.get(key, 0) + time.perf_counter() - began, 1)
        self.save()

    # -- training on the device

    def train_on_device(self) -> dict:
        plan, out = self.plan, {}
        began, runs_left = time.perf_counter(), len(self.families) * len(plan.precisions)
        for seed, name in enumerate(self.families):
            spec = FAMILIES[name]
            entry = out[name] = {"config": gpu_training.describe_config(spec, plan.scale)}
            try:
                data = gpu_training.family_data(spec, plan.scale, seed)
            except Exception as error:  # noqa: BLE001 - one family's data failing sinks only that family
                entry["error"] = error_text(error)
                continue
            for precision in plan.precisions:
                cap = plan.gpu_cap_s
                if plan.gpu_phase_s is not None:
                    share = (plan.gpu_phase_s - (time.perf_counter() - began)) / runs_left
                    cap = min(cap or share, max(10.0, share))
                runs_left -= 1
                self.say(f"train {name} {precision} on {plan.device}" + (f", capped at {cap:.0f} s" if cap else ""))
                entry[precision] = gpu_training.train_once(
                    spec, plan.scale, data, device=plan.device, precision=precision, steps=plan.steps,
                    warmup=plan.warmup, cap_s=cap)
                self._say_run(entry[precision])
            entry["speedups"] = gpu_training.speedups(entry)
            self.results["training"] = out
            self.save()
        return out

    def train_on_cpu(self) -> dict:
        """Each family on the CPU with `cpu_threads` threads, after everything else (the slowest
        part, shrunk to the budget left)."""
        plan, training = self.plan, self.results.get("training") or {}
        families = [f for f in self.families if f in plan.cpu_families]
        for index, name in enumerate(families):
            entry = training.setdefault(name, {})
            spec = FAMILIES[name]
            cap = plan.cpu_cap_s
            if plan.budget_s is not None:
                left = plan.budget_s - self.elapsed()
                if left < 10:
                    entry["cpu"] = {"error": f"skipped: the {plan.budget_s:.0f}-s budget is spent"}
                    continue
                cap = min(cap or left, max(5.0, left / (len(families) - index) - 5))
            self.say(f"train {name} on the CPU, torch threads: {plan.cpu_threads}"
                     + (f", capped at {cap:.0f} s" if cap else ""))
            try:
                data = gpu_training.family_data(spec, plan.scale, index)
                entry["cpu"] = gpu_training.train_once(
                    spec, plan.scale, data, device="cpu", precision="fp32", steps=plan.cpu_steps,
                    warmup=plan.cpu_warmup, cap_s=cap, min_timed=plan.cpu_min_timed, threads=plan.cpu_threads)
            except Exception as error:  # noqa: BLE001 - one family's failure is recorded, the next one runs
                entry["cpu"] = {"error": error_text(error)}
            self._say_run(entry["cpu"])
            entry["speedups"] = gpu_training.speedups(entry)
            self.save()
        return training

    def _say_run(self, run: dict) -> None:
        if run.get("error"):
            self.say(f"  error: {run['error']}")
        else:
            peak = f", peak {run['peak_gpu_mib']:.0f} MiB" if run.get("peak_gpu_mib") is not None else ""
            self.say(f"  {run['images_per_s']:,.1f} images/s over {run['steps_timed']} steps{peak}")

    # -- DCGAN at batch 256 with the GPU's utilisation

    def dcgan_b256(self) -> dict:
        plan = self.plan
        spec = FAMILIES["dcgan"]
        data = gpu_training.family_data(spec, plan.scale, 100)
        overrides = {"batch_size": plan.b256_batch}
        out: dict[str, Any] = {"batch_size": plan.b256_batch, "side_px": plan.scale.image_size}
        sampler = None
        if plan.device.startswith("cuda"):
            sampler = gpu_training.UtilisationSampler(0).start()
        else:
            out["utilisation"] = {"skipped": "no CUDA device"}
        self.say(f"DCGAN batch {plan.b256_batch} bf16 on {plan.device}" + (" with utilisation" if sampler else ""))
        out["bf16"] = gpu_training.train_once(
            spec, plan.scale, data, device=plan.device, precision="bf16", steps=plan.steps, warmup=plan.warmup,
            cap_s=plan.gpu_cap_s, config_overrides=overrides)
        if sampler is not None:
            out["utilisation"] = sampler.stop(out["bf16"].get("timed_window"))
        self._say_run(out["bf16"])
        self.results["dcgan_b256"] = out
        self.save()
        self.say(f"DCGAN batch {plan.b256_batch} on the CPU, torch threads: {plan.cpu_threads}")
        out["cpu"] = gpu_training.train_once(
            spec, plan.scale, data, device="cpu", precision="fp32", steps=plan.cpu_steps, warmup=plan.cpu_warmup,
            cap_s=plan.b256_cpu_cap_s, min_timed=plan.cpu_min_timed, threads=plan.cpu_threads,
            config_overrides=overrides)
        self._say_run(out["cpu"])
        bf16, cpu = out["bf16"].get("images_per_s"), out["cpu"].get("images_per_s")
        out["bf16_over_cpu"] = bf16 / cpu if bf16 and cpu else None
        return out

    # -- serving

    def floors(self) -> dict:
        plan = self.plan
        self.say(f"generator floors at batch {plan.batches} on {plan.device}")
        with tempfile.TemporaryDirectory(prefix="bench-gpu-") as scratch:
            return gpu_serving.measure_floors(plan.device, plan.batches, rounds=plan.rounds, round_s=plan.round_s,
                                              scratch=Path(scratch), ort_threads=plan.ort_threads)

    def inception(self) -> dict:
        self.say("Inception extractor")
        return gpu_serving.measure_inception(self.plan.device, images=self.plan.inception_images,
                                             batch_sizes=self.plan.inception_batches)

    def stack(self) -> dict:
        plan = self.plan
        if not plan.stack:
            return {"skipped": "--no-stack"}
        self.say("the stack serving /generate")
        out = gpu_serving.measure_stack(plan.stack_levels, warmup_s=plan.stack_warmup_s,
                                        duration_s=plan.stack_duration_s, max_batch=plan.stack_max_batch)
        floors = self.results.get("floors") or {}
        gpu = ("torch_cuda", "ort_cuda") if plan.device.startswith("cuda") else ("torch_cpu", "ort_cpu")
        torch_only = (gpu[0],)
        out["floor_one_process"] = dict(zip(("backend", "images_per_s"), gpu_serving.floor_at(
            floors, plan.floor_batch, gpu)), batch=plan.floor_batch)
        out["floor_pytorch"] = dict(zip(("backend", "images_per_s"), gpu_serving.floor_at(
            floors, plan.floor_batch, torch_only)), batch=plan.floor_batch)
        for name, level in (out.get("levels") or {}).items():
            floor = out["floor_one_process"] if level["n"] == 1 else out["floor_pytorch"]
            if level.get("images_per_s") and floor.get("images_per_s"):
                level["vs_floor"] = level["images_per_s"] / floor["images_per_s"]
            if level.get("images_per_s") is not None:
                self.say(f"  {name}: {level['images_per_s']:,.0f} images/s, p50 {level.get('p50_ms') or 0:.1f} ms")
        return out

    def main(self) -> None:
        plan = self.plan
        if plan.smoke:
            import torch

            torch.set_num_threads(plan.cpu_threads)
        self.say(f"writing {self.json_path}")
        self.phase("environment", lambda: environment(plan.device))
        self.phase("training", self.train_on_device)
        if "dcgan" in self.families:
            self.phase("dcgan_b256", self.dcgan_b256)
        self.phase("floors", self.floors)
        self.phase("inception", self.inception)
        self.phase("stack", self.stack)
        self.phase("training", self.train_on_cpu)
        self.results["targets"] = targets(self.results, plan)
        self.results["complete"] = True
        self.save()
        text = markdown(self.results)
        self.md_path.write_text(text)
        print(text, flush=True)
        self.say(f"wrote {self.json_path} and {self.md_path}")


# -- targets and the Markdown -------------------------------------------------------------------------


def _met(value: float | None, bound: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    return "met" if value >= bound else "not met"


def targets(results: dict, plan: Plan) -> dict:
    """Issue 22's targets, each with its figure and met / not met; all n/a for a --cpu run."""
    if plan.smoke:
        return {"note": "n/a: a --cpu smoke run measures no GPU target"}
    training = results.get("training") or {}
    trained = [f for f in FAMILIES if all(not (training.get(f, {}).get(p) or {"error": "absent"}).get("error")
                                          and (training.get(f, {}).get(p) or {}).get("losses_finite")
                                          for p in ("fp32", "bf16"))]
    style = (training.get("stylegan2") or {}).get("speedups", {}).get("bf16_over_fp32")
    b256 = results.get("dcgan_b256") or {}
    rate = (b256.get("bf16") or {}).get("images_per_s")
    util = (b256.get("utilisation") or {}).get("mean_pct")
    levels = (results.get("stack") or {}).get("levels") or {}
    single = (levels.get("n1_c64") or {}).get("vs_floor")
    many = max([(levels.get(k) or {}).get("vs_floor") or 0 for k in ("n64_c1", "n64_c4")], default=0) or None
    return {
        "every_family_fp32_and_bf16_on_cuda": {"families_ok": trained,
                                               "status": "met" if len(trained) == len(FAMILIES) else "not met"},
        "stylegan2_bf16_over_fp32_ge_1.3": {"value": style, "status": _met(style, 1.3)},
        "dcgan_b256_bf16_ge_10000_images_per_s": {"value": rate, "status": _met(rate, 10_000)},
        "dcgan_b256_ge_100x_cpu_2_threads": {"value": b256.get("bf16_over_cpu"),
                                             "status": _met(b256.get("bf16_over_cpu"), 100)},
        "dcgan_b256_gpu_utilisation_ge_80pct": {"value": util, "status": _met(util, 80)},
        "generate_n1_c64_ge_0.5x_floor": {"value": single, "status": _met(single, 0.5)},
        "generate_n64_ge_0.5x_pytorch_b64_floor": {"value": many, "status": _met(many, 0.5)},
    }


def _f(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _x(value) -> str:
    return "–" if not value else f"{value:.2f}x"


def _cell(run: dict | None, key: str = "images_per_s", digits: int = 1) -> str:
    if not run:
        return "–"
    if run.get("error"):
        return "error"
    return _f(run.get(key), digits)


def markdown(results: dict) -> str:
    env = results.get("environment") or {}
    plan = results.get("plan") or {}
    smoke = "cpu smoke" in str(results.get("mode"))
    gpu = env.get("gpu") or {}
    lines = [f"## bench.gpu — {env.get('date_utc', '?')} on {env.get('host', '?')}", ""]
    if smoke:
        lines += [("**CPU smoke run (`--cpu`): tiny configs, a few steps, the CPU as the device. "
                   "Not performance figures.**"), ""]
    lines += [
        f"- GPU: {gpu.get('name', 'none')}" + (f", {gpu.get('memory_gib')} GiB, capability {gpu.get('capability')}, "
                                               f"driver {env.get('driver')}" if gpu else ""),
        (f"- torch {env.get('torch')} (CUDA {env.get('torch_cuda')}, cuDNN {env.get('cudnn')}); "
         f"onnxruntime {env.get('onnxruntime')} {env.get('onnxruntime_providers', '')}"),
        (f"- CPU: {env.get('cpu_model')}, {env.get('cpu_count')} logical / {env.get('usable_cores')} usable; "
         f"torch threads of the CPU reference runs: {plan.get('cpu_threads')}"),
        (f"- device runs: {plan.get('steps')} steps, first {plan.get('warmup')} untimed; CPU runs: up to "
         f"{plan.get('cpu_steps')} steps, first {plan.get('cpu_warmup')} untimed"
         + (f", each capped at {plan.get('cpu_cap_s'):.0f} s or the budget left" if plan.get("cpu_cap_s") else "")),
        "",
        "### Training (images/s; synthetic data)", "",
        ("| family | px | batch | fp32 img/s | bf16 img/s | bf16/fp32 | peak MiB fp32 / bf16 | CPU img/s (steps) "
         "| fp32/CPU | bf16/CPU | note |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in (results.get("training") or {}).items():
        config = entry.get("config") or {}
        fp32, bf16, cpu = entry.get("fp32"), entry.get("bf16"), entry.get("cpu")
        speed = entry.get("speedups") or {}
        notes = [f"{k}: {r['error']}" for k, r in (("fp32", fp32), ("bf16", bf16), ("cpu", cpu))
                 if r and r.get("error")]
        notes += [r["note"] for r in (fp32, bf16, cpu) if r and r.get("note")][:1]
        if entry.get("error"):
            notes.insert(0, entry["error"])
        cpu_steps = f" ({cpu.get('steps_timed')})" if cpu and cpu.get("steps_timed") else ""
        lines.append(
            f"| {name} | {config.get('side_px', '–')} | {config.get('batch_size', '–')} | {_cell(fp32)} | {_cell(bf16)} "
            f"| {_x(speed.get('bf16_over_fp32'))} | {_cell(fp32, 'peak_gpu_mib', 0)} / {_cell(bf16, 'peak_gpu_mib', 0)} "
            f"| {_cell(cpu)}{cpu_steps} | {_x(speed.get('fp32_over_cpu'))} | {_x(speed.get('bf16_over_cpu'))} "
            f"| {'; '.join(notes).replace('|', '/')[:300]} |")
    b256 = results.get("dcgan_b256") or {}
    if b256:
        util = b256.get("utilisation") or {}
        util_text = util.get("skipped") or (f"mean {_f(util.get('mean_pct'))}%, p50 {_f(util.get('p50_pct'))}% "
                                            f"({util.get('samples')} samples, {util.get('source')})")
        lines += ["", f"### DCGAN {b256.get('side_px')} px, batch {b256.get('batch_size')}, bf16", "",
                  (f"- device: {_cell(b256.get('bf16'))} images/s, peak "
                   f"{_cell(b256.get('bf16'), 'peak_gpu_mib', 0)} MiB; GPU utilisation: {util_text}"),
                  (f"- CPU (torch threads: {plan.get('cpu_threads')}, fp32): {_cell(b256.get('cpu'))} images/s; "
                   f"device / CPU: {_x(b256.get('bf16_over_cpu'))}")]
        if b256.get("error"):
            lines.append(f"- error: {b256['error']}")
    floors = results.get("floors") or {}
    lines += ["", "### Generator floors, one process (DCGAN 64 px RGB, base 64; images/s)", ""]
    if floors.get("error"):
        lines.append(f"error: {floors['error']}")
    else:
        export = floors.get("export") or {}
        ort = floors.get("ort") or {}
        lines += [(f"Export: {export.get('exporter', floors.get('ort_error', '–'))}; ORT CUDA: "
                   f"{ort.get('cuda') or ort.get('ort_cuda_error') or 'measured' if ort else '–'}"), "",
                  "| backend | batch | images/s | incl. PNG (level 1) |", "|---|---|---|---|"]
        for backend, per_batch in (floors.get("backends") or {}).items():
            for batch, figures in per_batch.items():
                lines.append(f"| {backend} | {batch} | {_f(figures.get('images_per_s'), 0)} | "
                             f"{_f(figures.get('images_per_s_with_png'), 0)} |")
    inception = results.get("inception") or {}
    lines += ["", "### Inception extractor (InceptionV3 pool3, 64-px uint8 in, resized to 299)", ""]
    if inception.get("skipped") or inception.get("error"):
        lines.append(inception.get("skipped") or f"error: {inception['error']}")
    else:
        lines.append(", ".join(f"{k.removesuffix('_images_per_s').replace('_', ' ')}: {_f(v, 0)} images/s"
                               for k, v in inception.items() if k.endswith("_images_per_s")))
    stack = results.get("stack") or {}
    lines += ["", "### The stack serving /generate", ""]
    if stack.get("skipped") or stack.get("error"):
        lines.append(stack.get("skipped") or f"error: {stack['error']}")
    else:
        one, pt = stack.get("floor_one_process") or {}, stack.get("floor_pytorch") or {}
        lines += [(f"Floors at batch {one.get('batch')}, incl. PNG: one process {_f(one.get('images_per_s'), 0)} "
                   f"images/s ({one.get('backend')}), PyTorch {_f(pt.get('images_per_s'), 0)} ({pt.get('backend')}); "
                   f"worker max batch {stack.get('max_batch_size')}"), "",
                  "| level | n | c | req/s | images/s | p50 ms | p99 ms | non-200 | vs floor |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, level in (stack.get("levels") or {}).items():
            if level.get("error"):
                lines.append(f"| {name} | {level['n']} | {level.get('concurrency')} | error: {level['error']} |||||")
                continue
            bad = sum(v for k, v in (level.get("statuses") or {}).items() if k != "200")
            lines.append(f"| {name} | {level['n']} | {level['concurrency']} | {_f(level.get('requests_per_s'))} | "
                         f"{_f(level.get('images_per_s'), 0)} | {_f(level.get('p50_ms'), 1)} | "
                         f"{_f(level.get('p99_ms'), 1)} | {bad} | {_x(level.get('vs_floor'))} |")
    lines += ["", "### Targets (issue 22; reported, never asserted)", ""]
    for name, target in (results.get("targets") or {}).items():
        if isinstance(target, dict):
            value = target.get("value")
            shown = _f(value, 2) if isinstance(value, (int, float)) else ", ".join(target.get("families_ok", []))
            lines.append(f"- {name}: {target['status']} ({shown})")
        else:
            lines.append(f"- {target}")
    lines += ["", f"Total: {_f(results.get('elapsed_s'), 0)} s", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.cpu:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("bench.gpu: torch sees no CUDA device; `--cpu` runs the check briefly on the CPU")
    Run(args).main()


if __name__ == "__main__":
    main()
