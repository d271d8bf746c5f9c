"""`python -m bench.gpu --cpu`: issue 22's GPU check runs end to end on the CPU (tiny configs, a
few steps, a short stack), so the script is known to work before a GPU machine runs it."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gpu_training import FAMILIES

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def finite_rate(run: dict) -> bool:
    rate = run.get("images_per_s")
    return isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0


@pytest.fixture(scope="module")
def check(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    answer = subprocess.run([sys.executable, "-m", "bench.gpu", "--cpu", "--out", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=600, check=False)
    assert answer.returncode == 0, answer.stdout[-3000:] + answer.stderr[-3000:]
    (json_path,) = out.glob("gpu-*.json")
    return json.loads(json_path.read_text()), json_path.with_suffix(".md"), answer.stdout


def test_every_family_trains_in_fp32_and_bf16_with_a_finite_rate(check):
    results, _, _ = check
    assert results["complete"] and "cpu smoke" in results["mode"]
    assert set(results["training"]) == set(FAMILIES)
    for family, entry in results["training"].items():
        for precision in ("fp32", "bf16"):
            run = entry[precision]
            assert not run.get("error"), f"{family} {precision}: {run.get('error')}"
            assert finite_rate(run) and run["losses_finite"], (family, precision, run)
            assert run["steps_done"] == results["plan"]["steps"]
    assert finite_rate(results["training"]["dcgan"]["cpu"])
    assert finite_rate(results["dcgan_b256"]["bf16"]) and finite_rate(results["dcgan_b256"]["cpu"])


def test_the_serving_phases_ran_or_say_why_not(check):
    results, _, _ = check
    backends = results["floors"]["backends"]
    for backend in ("torch_cpu_fp32", "torch_cpu_bf16", "ort_cpu"):
        for batch in ("1", "8"):
            figures = backends[backend][batch]
            assert figures["images_per_s"] > 0 and figures["images_per_s_with_png"] > 0
    inception = results["inception"]
    assert inception.get("skipped") == "no inception file" or inception["batch_4_images_per_s"] > 0
    stack = results["stack"]
    if not stack.get("skipped"):
        assert not stack.get("error"), stack
        for name, level in stack["levels"].items():
            assert not level.get("error") and level["images_per_s"] > 0 and level["vs_floor"] > 0, (name, level)


def test_the_markdown_table_is_written_and_printed(check):
    _, md_path, stdout = check
    text = md_path.read_text()
    assert "CPU smoke run" in text and "Not performance figures" in text
    for family in FAMILIES:
        assert f"| {family} | 32 |" in text
    assert "### Generator floors" in text and "### The stack serving /generate" in text
    assert text.strip() in stdout


def test_the_utilisation_sampler_sums_up_only_the_timed_window():
    import time

    from bench.gpu_training import UtilisationSampler

    sampler = UtilisationSampler(0, interval_s=0.01)
    readings = iter(range(1000))
    sampler._read, sampler.source = (lambda: float(next(readings))), "fake"
    sampler.start()
    time.sleep(0.1)
    begin = time.perf_counter()
    time.sleep(0.1)
    end = time.perf_counter()
    time.sleep(0.1)
    figures = sampler.stop([begin, end])
    inside = [v for at, v in sampler.samples if begin <= at <= end]
    assert figures["samples"] == len(inside) > 3 and len(sampler.samples) > len(inside)
    assert figures["mean_pct"] == sum(inside) / len(inside) and figures["min_pct"] == min(inside)
    assert sampler.stop(None)["skipped"]
