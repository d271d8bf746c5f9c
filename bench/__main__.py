"""`python -m bench`: every figure of the report, measured side by side in one run.

Order: raw runtimes (no service running) of the bundled generator and of a heavier one made for
the run (bench/heavy.py), the service with batching on, the service with batching off (each
stack serving both models), optionally a diagnostic stack, the trainer, a large tiled upscale,
and raw ORT once more to show drift.
Writes bench/results/report.json and bench/results/report.md.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

from bench import (
    heavy,
    machine,
    pieces,
    raw,
    report,
    scenarios,
    trainer,
    upscale_memory,
)
from bench.stack import Stack
from models.store import ModelStore
from service.core.settings import load_settings

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "mnist-cdcgan"
LEVELS = [1, 8, 32, 64]
HEAVY_LEVELS = [1, 32]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=6.0, help="measured seconds per load level")
    parser.add_argument("--warmup", type=float, default=1.5, help="unmeasured seconds before each level")
    parser.add_argument("--raw-rounds", type=int, default=5, help="interleaved rounds of the raw timings")
    parser.add_argument("--raw-round-s", type=float, default=0.3, help="seconds per case per round")
    parser.add_argument("--train-steps", type=int, default=36)
    parser.add_argument("--no-diagnostic", action="store_true",
                        help="skip the extra stack with as many worker threads as clients")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def bundled_model(settings):
    store = ModelStore(settings.zoo_dir)
    deadline = time.monotonic() + 600
    while MODEL not in store.names():
        if time.monotonic() > deadline:
            raise SystemExit(f"{MODEL} is not in {settings.zoo_dir}: run `make zoo` first")
        print(f"waiting for {settings.zoo_dir / MODEL} ...", flush=True)
        time.sleep(10)
    manifest = store.resolve(MODEL)
    return manifest, store.onnx_path(manifest)


def step(title: str) -> float:
    print(f"[bench] {title}", flush=True)
    return time.perf_counter()


def main() -> None:
    args = parse_args()
    began = time.perf_counter()
    settings = load_settings()
    manifest, onnx_path = bundled_model(settings)
    args.out.mkdir(parents=True, exist_ok=True)
    stacks_dir = args.out / "stacks"
    shutil.rmtree(stacks_dir, ignore_errors=True)
    timing = dict(warmup_s=args.warmup, duration_s=args.duration)
    results: dict = {
        "machine": machine.describe(),
        "model": {"ref": manifest.ref, "architecture": manifest.architecture, "config": manifest.config,
                  "onnx_sha256": manifest.onnx_sha256, "onnx_path": str(onnx_path)},
        "settings": {
            "max_batch_size": settings.max_batch_size, "max_batch_delay_ms": settings.max_batch_delay_ms,
            "png_compress_level": settings.png_compress_level, "ort_threads": settings.ort_threads,
            "worker_concurrency": settings.worker_concurrency, "ort_providers": settings.ort_providers,
        },
        "method": {**timing, "levels": LEVELS, "raw_rounds": args.raw_rounds, "raw_round_s": args.raw_round_s},
        "phases_s": {},
    }

    t = step("raw runtimes: PyTorch eager vs ONNX Runtime, PNG encode")
    results["raw"] = raw.measure_raw(manifest, onnx_path, settings, rounds=args.raw_rounds, round_s=args.raw_round_s)
    results["phases_s"]["raw"] = time.perf_counter() - t

    t = step(f"heavier generator: export {heavy.NAME} (random weights), raw ONNX Runtime batch 1 vs 32")
    heavy_model = heavy.HeavyModel()

    def heavy_registered(state_dir: Path) -> dict[str, str]:
        """Env of a stack whose own registry holds the heavy model, registered before its worker starts."""
        artifacts = state_dir / "artifacts"
        heavy_model.register(artifacts / "models")
        return {"GANFORGE_ARTIFACTS_DIR": str(artifacts)}

    results["heavy"] = {
        "model": {"ref": f"{heavy.NAME}:1", "architecture": heavy.ARCHITECTURE, "config": heavy.CONFIG,
                  "parameters": heavy_model.params, "parity_max_abs_diff": heavy_model.parity,
                  "weights": "random (torch.manual_seed(0)), exported with models.export.export_generator"},
        "levels": HEAVY_LEVELS,
        "raw": heavy.measure_raw(heavy_model, settings, rounds=args.raw_rounds, round_s=args.raw_round_s),
        "service": {},
    }
    heavy_service = results["heavy"]["service"]
    results["phases_s"]["heavy_raw"] = time.perf_counter() - t

    service: dict = {}
    t = step("stack 1: batching on")
    with Stack(stacks_dir / "batching_on", {"GANFORGE_MAX_BATCH_SIZE": str(settings.max_batch_size),
                                            **heavy_registered(stacks_dir / "batching_on")},
               worker_concurrency=settings.worker_concurrency) as stack:
        scenarios.warm(stack, MODEL)
        service["batching_on"] = scenarios.generate_levels(stack, MODEL, LEVELS, **timing)
        step("  raw ONNX Runtime beside the n = 32 requests (stack idle)")
        results["raw_beside_n32"] = raw.ort_batch32(manifest, onnx_path, settings, rounds=3, round_s=0.3)
        step("  n = 32 requests")
        service["n32"] = scenarios.batch_requests(stack, MODEL, 32, [1, 4], **timing)
        step("  cache hits")
        service["cache_hits"] = scenarios.cache_hits(stack, MODEL, duration_s=min(args.duration, 4.0))
        step("  per-request pieces: Redis round trip, Celery publish, model resolve, job parse")
        results["pieces"] = {
            **pieces.measure_round_trips(stack.redis_server.url, rounds=3, round_s=0.2),
            **pieces.measure_pieces(ModelStore(settings.zoo_dir), MODEL, rounds=3, round_s=0.2),
        }
        step(f"  {heavy.NAME}: n = 1 levels, raw ORT batch 32 beside, n = 32 requests")
        scenarios.warm(stack, heavy.NAME)
        heavy_service["batching_on"] = scenarios.generate_levels(stack, heavy.NAME, HEAVY_LEVELS, **timing)
        results["heavy"]["raw_beside_n32"] = heavy.ort_batch32(heavy_model, settings, rounds=3, round_s=0.3)
        heavy_service["n32"] = scenarios.batch_requests(stack, heavy.NAME, 32, [1, 4], **timing)
    results["phases_s"]["stack_batching_on"] = time.perf_counter() - t

    t = step("stack 2: batching off")
    with Stack(stacks_dir / "batching_off", {"GANFORGE_MAX_BATCH_SIZE": "1", **heavy_registered(stacks_dir / "batching_off")},
               worker_concurrency=settings.worker_concurrency) as stack:
        scenarios.warm(stack, MODEL)
        service["batching_off"] = scenarios.generate_levels(stack, MODEL, LEVELS, **timing)
        step(f"  {heavy.NAME}: n = 1 levels")
        scenarios.warm(stack, heavy.NAME)
        heavy_service["batching_off"] = scenarios.generate_levels(stack, heavy.NAME, HEAVY_LEVELS, **timing)
    results["phases_s"]["stack_batching_off"] = time.perf_counter() - t

    if not args.no_diagnostic:
        threads = max(LEVELS)
        t = step(f"stack 3 (diagnostic): batching on, {threads} worker threads")
        with Stack(stacks_dir / "batching_on_wide", {"GANFORGE_MAX_BATCH_SIZE": str(settings.max_batch_size)},
                   worker_concurrency=threads) as stack:
            scenarios.warm(stack, MODEL)
            service["batching_on_wide"] = scenarios.generate_levels(stack, MODEL, [32, 64], **timing)
            service["batching_on_wide_worker_threads"] = threads
        results["phases_s"]["stack_diagnostic"] = time.perf_counter() - t
    results["service"] = service

    t = step("DCGAN trainer")
    results["training"] = trainer.measure_training(steps=args.train_steps, batch_size=64, base_features=32)
    results["phases_s"]["training"] = time.perf_counter() - t

    t = step("upscale: 2048x2048 at x4 with tiling, worker peak memory and time")
    results["upscale_memory"] = upscale_memory.measure(settings.zoo_dir, [256, 512], overlap=16, threads=0)
    results["phases_s"]["upscale_memory"] = time.perf_counter() - t

    t = step("raw ONNX Runtime again (drift)")
    results["raw_end"] = raw.ort_batch32(manifest, onnx_path, settings, rounds=3, round_s=0.3)
    results["phases_s"]["drift"] = time.perf_counter() - t

    heavy_model.close()
    results["targets"] = report.targets(results)
    results["total_s"] = time.perf_counter() - began
    (args.out / "report.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "report.md").write_text(report.markdown(results))
    print(report.markdown(results))
    print(f"[bench] wrote {args.out / 'report.json'} and report.md in {results['total_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
