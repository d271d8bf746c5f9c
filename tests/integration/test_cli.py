"""The `ganforge` command as a subprocess against a real stack: files written, progress shown,
and the exit codes scripts rely on (0 ok, 1 job failed, 2 usage, 3 API error, 4 unavailable,
5 timed out)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from archives import png
from PIL import Image

pytestmark = pytest.mark.integration

TINY = ["--hp", "base_features=8", "--hp", "batch_size=16", "--hp", "latent_dim=16", "--hp", "embed_dim=4"]


def _command() -> list[str]:
    script = Path(sys.executable).with_name("ganforge")  # the console script `pip install .` makes
    return [str(script)] if script.exists() else [sys.executable, "-m", "ganforge"]


@pytest.fixture
def ganforge(stack, tmp_path):
    env = {**os.environ, "GANFORGE_URL": stack.api_url, "GANFORGE_API_KEY": stack.admin_key}

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([*_command(), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=timeout)

    return run


def test_generate_writes_the_images_it_prints(ganforge, tmp_path):
    done = ganforge("generate", "mnist-cdcgan", "-n", "4", "--seed", "7", "--labels", "3", "-o", "out/")
    assert done.returncode == 0, done.stderr
    written = done.stdout.split()
    assert len(written) == 4 and all(w.startswith("out/") for w in written)
    for name in written:
        assert Image.open(tmp_path / name).size == (28, 28)
    single = ganforge("generate", "mnist-cdcgan", "--seed", "7", "-o", "one.png")
    assert single.returncode == 0 and single.stdout.strip() == "one.png"
    assert Image.open(tmp_path / "one.png").format == "PNG"


def test_upscale_and_translate_files(ganforge, tmp_path):
    (tmp_path / "photo.png").write_bytes(png(size=(16, 12)))
    done = ganforge("upscale", "photo.png", "-o", "big.png")
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "big.png").size == (64, 48)
    (tmp_path / "edges.png").write_bytes(png(color=0, size=(32, 32), mode="L"))
    done = ganforge("translate", "edges.png", "edges2digits-pix2pix", "--format", "jpeg")
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "edges-a2b.jpg").format == "JPEG"


def test_train_uploads_a_folder_and_follows_to_the_registered_model(ganforge, tmp_path):
    for label, shade in (("zero", 20), ("one", 230)):
        (tmp_path / "faces" / label).mkdir(parents=True)
        for i in range(4):
            (tmp_path / "faces" / label / f"{i}.png").write_bytes(png(color=(shade,) * 3, size=(8, 8)))
    done = ganforge("train", "cdcgan", "--dataset", "./faces/", "--model-name", "cli-faces", "--steps", "12",
                    "--image-size", "8", *TINY, "--follow")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("cli-faces:")
    assert "uploaded ./faces/ as dataset" in done.stderr and "(classes, 8 images)" in done.stderr
    assert "train cli-faces" in done.stderr  # the progress bar's label
    models = json.loads(ganforge("models", "--json").stdout)
    assert "cli-faces" in [m["name"] for m in models]


def test_models_and_jobs_tables(ganforge):
    table = ganforge("models")
    assert table.returncode == 0 and "mnist-cdcgan" in table.stdout
    made = ganforge("generate", "mnist-cdcgan", "--seed", "99", "-o", "x.png")
    assert made.returncode == 0
    jobs = json.loads(ganforge("jobs", "--kind", "generate", "--limit", "100", "--json").stdout)
    assert jobs["jobs"] and all(job["kind"] == "generate" for job in jobs["jobs"])
    shown = json.loads(ganforge("jobs", "show", jobs["jobs"][0]["id"]).stdout)
    assert shown["id"] == jobs["jobs"][0]["id"]


def test_exit_codes(ganforge, stack):
    unknown = ganforge("generate", "no-such-model")
    assert unknown.returncode == 3 and "unknown-model" in unknown.stderr
    usage = ganforge("generate")
    assert usage.returncode == 2
    unreachable = ganforge("--url", "http://127.0.0.1:9", "--retries", "0", "models")
    assert unreachable.returncode == 4
    denied = ganforge("--api-key", "gfk_wrong", "models")
    assert denied.returncode == 3 and "401" in denied.stderr

    queued = ganforge("train", "cdcgan", "--dataset", "digits", "--model-name", "cli-slow", "--steps", "100000",
                      "--image-size", "8", *TINY, "--no-follow")
    assert queued.returncode == 0, queued.stderr
    job_id = queued.stdout.strip()
    waited = ganforge("jobs", "wait", job_id, "--timeout", "0.5", "-q")
    assert waited.returncode == 5 and f"ganforge jobs wait {job_id}" in waited.stderr
    assert ganforge("jobs", "cancel", job_id).returncode == 0
    ended = ganforge("jobs", "wait", job_id, "-q")
    assert ended.returncode == 1 and "canceled" in ended.stdout


def test_json_prints_the_job_for_every_command_that_makes_one(ganforge, tmp_path):
    """Issue 27, item 5: --json was ignored by generate, translate and upscale."""
    made = ganforge("generate", "fashion-stylegan2", "--seed", "3", "--truncation-psi", "0.5", "--noise-mode",
                    "const", "-o", "face.png", "--json")
    assert made.returncode == 0, made.stderr
    job = json.loads(made.stdout)
    assert job["kind"] == "generate" and job["status"] == "succeeded" and job["saved"] == ["face.png"]
    assert job["params"]["truncation_psi"] == 0.5 and (tmp_path / "face.png").exists()
    (tmp_path / "photo.png").write_bytes(png(size=(16, 12)))
    upscaled = json.loads(ganforge("upscale", "photo.png", "--json").stdout)
    assert upscaled["kind"] == "upscale" and upscaled["saved"] == ["photo-upscaled.png"]
    (tmp_path / "edges.png").write_bytes(png(color=0, size=(32, 32), mode="L"))
    translated = json.loads(ganforge("--json", "translate", "edges.png", "edges2digits-pix2pix").stdout)
    assert translated["kind"] == "translate" and translated["saved"] == ["edges-a2b.png"]
    walk = ganforge("generate", "fashion-stylegan2", "--seed", "1", "--interpolate", "2", "--frames", "3",
                    "--space", "z", "-o", "walk/")
    assert walk.returncode == 0, walk.stderr
    assert len(walk.stdout.split()) == 4  # three frames and the animation


def test_the_jobs_table_shows_whole_ids_that_jobs_show_takes(ganforge):
    made = json.loads(ganforge("generate", "mnist-cdcgan", "--seed", "5", "-o", "five.png", "--json").stdout)
    table = ganforge("jobs", "--kind", "generate", "--limit", "5")
    assert table.returncode == 0 and made["id"] in table.stdout  # 80 columns: rich's width when not a terminal
    assert json.loads(ganforge("jobs", "show", made["id"]).stdout)["id"] == made["id"]


def test_no_key_names_the_environment_variable(stack, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GANFORGE_API_KEY"}
    env["GANFORGE_URL"] = stack.api_url
    done = subprocess.run([*_command(), "models"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "GANFORGE_API_KEY" in done.stderr, done.stderr


def test_train_json_prints_the_finished_job_with_the_version_it_registered(ganforge):
    done = ganforge("train", "cdcgan", "--dataset", "digits", "--model-name", "cli-json", "--steps", "4",
                    "--image-size", "8", "--hp", "base_features=8", "batch_size=16", "latent_dim=16", "embed_dim=4",
                    "--json", "-q")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["kind"] == "train" and job["status"] == "succeeded" and job["params"]["hyperparameters"]["embed_dim"] == 4
    assert job["registered"]["name"] == "cli-json" and job["model"]["version"] == job["registered"]["version"]
