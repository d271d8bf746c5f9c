"""`python -m bench.upscale_memory`: what one /upscale costs a worker for a 2048x2048 input at x4.

Runs the worker's own path (decode the PNG, tile through ONNX Runtime, encode the 8192x8192
PNG) once per tile size, each in a fresh child process so its peak RSS (ru_maxrss) is its own,
side by side in one run. Reported per case: wall time and its parts (inference, encode), peak
RSS, RSS before the call (interpreter + ONNX Runtime + model) and the peak before it (loading
the session has a transient peak of its own), and what the output alone
needs (8192 x 8192 x 3 bytes = 192 MiB). A bigger tile means fewer, larger runs and more
activation memory; the output array is the floor.

Writes bench/results/upscale_memory.json. A benchmark, not a test: numbers depend on the machine.
"""

import argparse
import io
import json
import multiprocessing
import resource
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "sr-x4"
SIDE = 2048


def _input_png(side: int) -> bytes:
    """A photo (astronaut) brought to side x side: real texture, so the encode is realistic."""
    from PIL import Image

    from training.data.super_resolution import load_photo

    out = io.BytesIO()
    Image.fromarray(load_photo("astronaut")).resize((side, side), Image.BICUBIC).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _case(zoo: str, data: bytes, tile: int, overlap: int, threads: int, queue) -> None:
    import onnxruntime as ort

    from models.inference.imaging import decode_image
    from models.inference.sessions import open_session, usable_cores
    from models.inference.upscale import (
        encode_owned,
        onnx_runner,
        to_format,
        upscale_image,
    )
    from models.store import ModelStore

    store = ModelStore(Path(zoo))
    manifest = store.resolve(MODEL)
    session = open_session(store.onnx_path(manifest), threads=threads or usable_cores(), providers=["CPUExecutionProvider"])
    run = onnx_runner(session, manifest.signature)
    run(__import__("numpy").zeros((1, 3, 16, 16), "float32"))  # warm-up, as the session cache does
    before = _rss_mib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # session loading has its own peak
    started = time.perf_counter()
    image = decode_image(data, 4096 * 4096)
    pixels, figures = upscale_image(run, image, manifest.signature, tile=tile, overlap=overlap)
    encoded_at = time.perf_counter()
    holder = [to_format(pixels, "png")]  # as the task does: the array is freed once Pillow has its copy
    del pixels
    encoded = encode_owned(holder, "png", png_compress_level=1)
    finished = time.perf_counter()
    queue.put({
        "tile": tile, "tile_overlap": overlap, "tiles": figures["tiles"], "output_size": figures["output_size"],
        "wall_s": round(finished - started, 2), "inference_s": figures["inference_s"],
        "encode_s": round(finished - encoded_at, 2), "output_png_mib": round(len(encoded) / 2**20, 1),
        "rss_before_mib": round(before, 1), "peak_rss_before_call_mib": round(peak_before, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "ort_version": ort.__version__,
    })


def measure(zoo: Path, tiles: list[int], overlap: int, threads: int, side: int = SIDE) -> dict:
    data = _input_png(side)
    context = multiprocessing.get_context("spawn")  # a clean child: its peak RSS is this case's alone
    cases = []
    for tile in tiles:
        queue = context.Queue()
        child = context.Process(target=_case, args=(str(zoo), data, tile, overlap, threads, queue))
        child.start()
        result = queue.get()
        child.join()
        cases.append(result)
        print(json.dumps(result), flush=True)
    return {"input": f"{side}x{side} RGB PNG ({len(data) / 2**20:.1f} MiB)", "model": MODEL,
            "output_array_mib": round(side * side * 16 * 3 / 2**20, 1), "cases": cases}


def main() -> None:
    from bench import machine
    from service.core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m bench.upscale_memory", description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads; 0 = one per core")
    parser.add_argument("--side", type=int, default=SIDE)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = {"machine": machine.describe(), **measure(load_settings().zoo_dir, args.tiles, args.overlap, args.threads, args.side)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "upscale_memory.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'upscale_memory.json'}")


if __name__ == "__main__":
    main()
