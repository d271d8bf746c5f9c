"""Adding a GAN family is one module plus one line: the test makes that change, and nothing else,
in a copy of the source, starts the whole service from the copy (`python -m service.local`: its
own Redis, a worker, the API) and trains the new family for a few steps through POST /train.

The toy family reuses the DCGAN recipe with its own, tiny, hyperparameters, the way lsgan and
wgan-gp do; a family with a training method of its own adds a recipe as well
(training/recipes/, one line in RECIPES).
"""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("service", "workers", "models", "training")
LINKED = ("models/zoo", "training/evaluation/metrics/weights")  # large and read-only: linked, not copied

TOY_MODULE = '''"""Toy: a DCGAN small enough to train in seconds, for tests."""

from pydantic import Field

from training.families.dcgan import DCGANHyperparameters
from training.families.spec import Family


class ToyHyperparameters(DCGANHyperparameters):
    latent_dim: int = Field(8, ge=1, le=64, description="Length of the latent vector z.")
    base_features: int = Field(4, ge=1, le=16, description="Width of the widest-resolution layers.")
    batch_size: int = Field(16, ge=1, le=64, description="Images per step.")


FAMILY = Family(
    name="toy",
    summary="A tiny DCGAN for tests.",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=ToyHyperparameters,
    recipe="dcgan",
)
'''


def copy_source(root: Path) -> Path:
    source = root / "src"
    for package in PACKAGES:
        shutil.copytree(REPO / package, source / package,
                        ignore=shutil.ignore_patterns("__pycache__", *(Path(p).name for p in LINKED)))
    for path in LINKED:
        (source / path).symlink_to(REPO / path)
    return source


def add_toy_family(source: Path) -> None:
    """The change a developer makes: one new module, and its line in the family table."""
    (source / "training" / "families" / "toy.py").write_text(TOY_MODULE)
    table = source / "training" / "families" / "__init__.py"
    text = table.read_text()
    assert "from training.families import (\n" in text and "    dcgan.FAMILY,\n" in text
    text = text.replace("from training.families import (\n", "from training.families import (\n    toy,\n", 1)
    text = text.replace("    dcgan.FAMILY,\n", "    dcgan.FAMILY,\n    toy.FAMILY,\n", 1)
    table.write_text(text)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def toy_service(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy-family")
    source = copy_source(root)
    add_toy_family(source)
    port = free_port()
    admin_key = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANFORGE_") and k != "PYTHONPATH"}
    env.update(GANFORGE_STATE_DIR=str(root / "state"), GANFORGE_PORT=str(port), GANFORGE_WORKER_HEARTBEAT_S="1",
               GANFORGE_TRAIN_EVAL_SAMPLES="0", GANFORGE_WORKER_CONCURRENCY="2", GANFORGE_ADMIN_KEY=admin_key)
    log = (root / "service.log").open("wb")
    # cwd = the copy, so `python -m` finds the copy's packages before the installed project.
    process = subprocess.Popen([sys.executable, "-m", "service.local"], cwd=source, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {admin_key}"}) as client:
            deadline = time.monotonic() + 180
            while True:
                assert process.poll() is None, (root / "service.log").read_text()[-3000:]
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (root / "service.log").read_text()[-3000:]
                time.sleep(0.5)
            yield client, source
    finally:
        process.send_signal(signal.SIGTERM)  # service.local stops its worker, API and Redis
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.integration
@pytest.mark.slow
def test_a_family_added_as_one_module_and_one_line_trains_through_post_train(toy_service):
    client, source = toy_service
    listing = client.get("/train/architectures")
    assert listing.status_code == 200, listing.text
    listed = {a["name"]: a for a in listing.json()["architectures"]}
    assert "toy" in listed and listed["toy"]["hyperparameters"]["properties"]["base_features"]["default"] == 4

    body = {"architecture": "toy", "dataset": "digits", "model_name": "toy-digits", "steps": 3, "seed": 1,
            "sample_every": 0, "checkpoint_every": 0}
    answer = client.post("/train", json=body, headers={"Prefer": "wait=240"}, timeout=260)
    job = answer.json()
    assert answer.status_code == 200 and job["status"] == "succeeded", job
    assert job["metrics"]["steps"] == 3 and job["metrics"]["model"] == "toy-digits:1"
    assert job["params"]["hyperparameters"]["base_features"] == 4  # the toy's own default

    manifest = client.get("/models/toy-digits").json()["latest"]
    assert manifest["provenance"]["trainer"] == "toy" and manifest["provenance"]["hyperparameters"]["latent_dim"] == 8
    generated = client.post("/generate", json={"model": "toy-digits", "n": 2, "seed": 3}, headers={"Prefer": "wait=60"})
    assert generated.status_code == 200 and generated.json()["status"] == "succeeded", generated.text

    # A bad request for the new family is refused like any other's.
    refused = client.post("/train", json={**body, "hyperparameters": {"base_features": 999}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "hyperparameters.base_features"

