"""`python -m bench.lean`: issue 13's side-by-side run — one call per image against the raw floor.

For the bundled generator and the 64x64 DCGAN (bench/heavy.py), in one run:
- the raw one-process floor: ONNX Runtime + uint8 + the service's own PNG encoder, batch 1 and 32;
- the service, one call per image (`Accept: image/png`, the PNG bytes answered), at each
  concurrency, with the API coalescing jobs into Celery messages and without (measure and choose);
- CPU per request split by process (API, worker, Redis), Redis commands per request, the mean
  batch the jobs rode in and the jobs per Celery message (read from a sample of the jobs after
  each level, outside the counters);
- cache hits (one seeded request repeated) at c = 1 and c = 8, with one API process and with
  several (`--cache-api-processes`, 2 by default: the worker is idle on that path, so the API
  may have both cores).
Writes bench/results/lean.json and lean.md.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from bench import heavy, machine
from bench.raw import feeds_for
from bench.scenarios import load_level
from bench.stack import Stack
from bench.timing import interleaved
from models.inference.imaging import encode
from models.inference.pixels import to_uint8
from models.inference.sessions import choose_providers, open_session
from models.store import ModelStore
from service.core.settings import load_settings

RESULTS = Path(__file__).resolve().parent / "results"
BUNDLED = "mnist-cdcgan"
IMAGE = {"Accept": "image/png"}


def floor(manifest, onnx_path, settings, *, rounds: int, round_s: float) -> dict:
    """One process, no service: run, convert and encode each image, at batch 1 and batch 32."""
    session = open_session(onnx_path, threads=settings.ort_threads, providers=choose_providers(settings.ort_providers))
    output, level = manifest.signature.output, settings.png_compress_level
    feeds = {1: feeds_for(manifest, 1), 32: feeds_for(manifest, 32)}

    def case(batch):
        def call():
            return [encode(p, "png", png_compress_level=level) for p in to_uint8(session.run([output], feeds[batch])[0])]
        return call

    timed = interleaved({"b1": case(1), "b32": case(32)}, rounds=rounds, round_s=round_s)
    return {"batch1_ms_per_image": timed["b1"]["median_s"] * 1e3, "batch1_images_per_s": 1 / timed["b1"]["median_s"],
            "batch32_ms_per_image": timed["b32"]["median_s"] * 1e3 / 32,
            "batch32_images_per_s": 32 / timed["b32"]["median_s"]}


def inspect(stack: Stack, job_ids: list[str]) -> dict:
    """Mean batch, jobs per message and cached share of a sample of a level's jobs."""
    with stack.client() as api:
        jobs = [api.get(f"/jobs/{job_id}").json() for job_id in job_ids]
    metrics = [j.get("metrics") or {} for j in jobs]

    def mean(key):
        values = [m[key] for m in metrics if m.get(key) is not None]
        return float(np.mean(values)) if values else None

    return {"batch_images_mean": mean("batch_images"), "message_jobs_mean": mean("message_jobs"),
            "cached_share": float(np.mean([bool(j.get("cached")) for j in jobs])) if jobs else None,
            "sampled": len(jobs)}


def level(stack: Stack, body: dict, concurrency: int, timing: dict) -> dict:
    result = load_level(stack, body, concurrency=concurrency, headers=IMAGE, **timing)
    result.update(inspect(stack, result.pop("job_ids_sample")))
    return result


def run_stack(stack: Stack, models: dict[str, list[int]], timing: dict, cache: bool) -> dict:
    out: dict = {}
    for model, levels in models.items():
        level(stack, {"model": model, "n": 1}, 2, {"warmup_s": 0.0, "duration_s": 1.0})  # load the session
        out[model] = {str(c): level(stack, {"model": model, "n": 1}, c, timing) for c in levels}
        print(f"[lean]   {model}: " + ", ".join(f"c={c} {r['requests_per_s']:.0f}/s p50 {r['p50_ms'] or 0:.1f}"
                                                for c, r in out[model].items()), flush=True)
    if cache:
        body = {"model": BUNDLED, "n": 1, "seed": 12345, "labels": [7]}
        level(stack, body, 1, {"warmup_s": 0.0, "duration_s": 0.3, "requests": 1})
        out["cache_hits"] = {str(c): level(stack, body, c, {**timing, "duration_s": min(timing["duration_s"], 4.0)})
                             for c in (1, 8)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lean", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--levels", default="1,8,32,64")
    parser.add_argument("--heavy-levels", default="1,8,32,64")
    parser.add_argument("--no-compare", action="store_true", help="skip the stack without coalescing")
    parser.add_argument("--cache-api-processes", type=int, default=2,
                        help="also measure cache hits with this many API processes (1: skip)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out = args.out.resolve()  # redis-server runs elsewhere: its folders must be absolute
    began = time.perf_counter()
    settings = load_settings()
    timing = {"warmup_s": args.warmup, "duration_s": args.duration}
    store = ModelStore(settings.zoo_dir)
    manifest = store.resolve(BUNDLED)
    heavy_model = heavy.HeavyModel()
    results: dict = {"machine": machine.describe(), "method": {**timing, "levels": args.levels}}
    print("[lean] raw floor", flush=True)
    results["floor"] = {
        BUNDLED: floor(manifest, store.onnx_path(manifest), settings, rounds=5, round_s=0.3),
        heavy.NAME: floor(heavy_model.manifest, heavy_model.onnx_path, settings, rounds=5, round_s=0.3),
    }
    models = {BUNDLED: [int(c) for c in args.levels.split(",")], heavy.NAME: [int(c) for c in args.heavy_levels.split(",")]}
    stacks_dir = args.out / "lean-stacks"
    shutil.rmtree(stacks_dir, ignore_errors=True)
    variants = {"coalesced": {}} if args.no_compare else {"coalesced": {}, "one_message_per_job": {"GANFORGE_COALESCE": "0"}}
    results["service"] = {}
    for name, env in variants.items():
        print(f"[lean] stack: {name}", flush=True)
        state_dir = stacks_dir / name
        heavy_model.register(state_dir / "artifacts" / "models")
        with Stack(state_dir, {**env, "GANFORGE_ARTIFACTS_DIR": str(state_dir / "artifacts")},
                   worker_concurrency=settings.worker_concurrency) as stack:
            results["service"][name] = run_stack(stack, models, timing, cache=name == "coalesced")
    if args.cache_api_processes > 1:  # the cache-hit path with the API spread over several processes
        name = f"cache_hits_{args.cache_api_processes}_api_processes"
        print(f"[lean] stack: {name}", flush=True)
        with Stack(stacks_dir / name, {"GANFORGE_API_PROCESSES": str(args.cache_api_processes)},
                   worker_concurrency=settings.worker_concurrency) as stack:
            results["service"][name] = run_stack(stack, {}, timing, cache=True)
    print("[lean] raw floor again (drift)", flush=True)
    results["floor_end"] = floor(manifest, store.onnx_path(manifest), settings, rounds=3, round_s=0.3)
    heavy_model.close()
    results["total_s"] = time.perf_counter() - began
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lean.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "lean.md").write_text(markdown(results))
    print(markdown(results))


def _f(value, digits=1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(results: dict) -> str:
    lines = [f"Machine: {json.dumps(results['machine'])}", ""]
    lines += ["| model | raw batch 1 ms/img | raw batch 32 img/s | raw batch 32 ms/img |", "|---|---|---|---|"]
    for model, f in results["floor"].items():
        lines.append(f"| {model} | {_f(f['batch1_ms_per_image'], 3)} | {_f(f['batch32_images_per_s'], 0)} | "
                     f"{_f(f['batch32_ms_per_image'], 3)} |")
    lines += ["", "| stack | model | c | req/s | p50 ms | p99 ms | errors | vs raw b32 | CPU ms/req API | worker | "
              "Redis | all | Redis cmds/req | mean batch | jobs/message |", "|" + "---|" * 16]
    for stack_name, per_model in results["service"].items():
        for model, levels in per_model.items():
            ref = results["floor"].get(model) or results["floor"][BUNDLED]
            for c, r in levels.items():
                cpu = r["cpu_ms_per_request"]
                errors = sum(v for k, v in r["statuses"].items() if k != "200")
                total = cpu.get("api", 0) + cpu.get("worker", 0) + cpu.get("redis", 0)
                lines.append(
                    f"| {stack_name} | {model} | {c} | {_f(r['requests_per_s'])} | {_f(r['p50_ms'], 2)} | "
                    f"{_f(r['p99_ms'], 2)} | {errors} | {r['requests_per_s'] / ref['batch32_images_per_s']:.2f}x | "
                    f"{_f(cpu.get('api'), 2)} | {_f(cpu.get('worker'), 2)} | {_f(cpu.get('redis'), 2)} | {_f(total, 2)} | "
                    f"{_f(r['redis_commands_per_request'])} | {_f(r['batch_images_mean'])} | {_f(r['message_jobs_mean'])} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
