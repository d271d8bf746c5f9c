"""The README's /translate examples, run as the README shows them (curl in bash, the auth header,
the docs/ pictures as inputs) against a real stack; their answers match the pictures in docs/."""

import io
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MAX_MEAN_ABS_DIFF = 12  # of 255: the docs pictures were made per digit at 32 px; the calls resample and tile


def readme_translate_commands() -> list[str]:
    """The curl commands of the README's translation section, continuation lines joined."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Image-to-image translation", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    commands = block.replace("\\\n", " ").splitlines()
    return [c for c in commands if "/translate" in c]


def run_verbatim(command: str, stack, cwd: Path) -> bytes:
    """`command` through bash with KEY set and localhost:8000 pointing at the test stack."""
    command = command.replace("localhost:8000", stack.api_url.removeprefix("http://"))
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env={**os.environ, "KEY": stack.admin_key},
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def mean_abs_diff(image: Image.Image, reference: str) -> float:
    expected = np.asarray(Image.open(ROOT / "docs" / reference), dtype=np.float64)
    got = np.asarray(image.convert(Image.open(ROOT / "docs" / reference).mode), dtype=np.float64)
    assert got.shape == expected.shape
    return float(np.abs(got - expected).mean())


def test_the_readme_translate_examples_reproduce_the_docs_pictures(stack, api, tmp_path):
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    multipart, as_json = readme_translate_commands()
    assert "Authorization: Bearer $KEY" in multipart and "Authorization: Bearer $KEY" in as_json
    assert "Prefer: wait" in as_json  # so the README's call answers the finished job, not a 202

    run_verbatim(multipart, stack, tmp_path)
    digits = Image.open(tmp_path / "digits.png")
    assert digits.size == (768, 96) and digits.mode == "L"
    assert mean_abs_diff(digits, "edges2digits-output.png") < MAX_MEAN_ABS_DIFF

    job = json.loads(run_verbatim(as_json, stack, tmp_path))
    assert job["status"] == "succeeded", job
    assert job["metrics"]["tiles"] == 1  # the CycleGAN ResNet runs whole
    bold = Image.open(io.BytesIO(api.get(job["outputs"][0]["url"]).content))
    assert mean_abs_diff(bold, "thin2bold-output.png") < MAX_MEAN_ABS_DIFF

    # what the README warns against: the input's own pixels, 3x the scale the models learned
    asis = api.post("/translate", files={"image": ("e.png", (ROOT / "docs/edges2digits-input.png").read_bytes())},
                    data={"model": "edges2digits-pix2pix", "resize": "none"}, headers={"Prefer": "wait=30"}).json()
    assert asis["metrics"]["tiles"] > 100  # still tiled (no noise grid), but each tile sees a third of a digit
    unlike = Image.open(io.BytesIO(api.get(asis["outputs"][0]["url"]).content))
    assert mean_abs_diff(unlike, "edges2digits-output.png") > 2 * MAX_MEAN_ABS_DIFF
    edges = (ROOT / "docs/edges2digits-input.png").read_bytes()
    refused = api.post("/translate", files={"image": ("e.png", edges)}, data={"model": "edges2digits-pix2pix", "resize": "keep"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "resize"
