"""The client installs alone: clients/python into a fresh virtual environment (no system site
packages) brings none of the server's heavy parts, and its `ganforge` command generates against a
running stack."""

import json
import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from PIL import Image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
VERSION = re.search(r'^__version__ = "(.+)"$', (CLIENT / "ganforge" / "__init__.py").read_text(), re.M).group(1)
# What a caller of the API must not be made to install.
SERVER_ONLY = {"torch", "celery", "kombu", "onnxruntime", "onnxruntime-gpu", "redis", "fastapi", "ganforge-server"}

INSTALLED = """
import importlib.metadata as m, importlib.resources as r, json, sys
import ganforge
print(json.dumps({
    "distributions": sorted({d.metadata["Name"].lower().replace("_", "-") for d in m.distributions()}),
    "ganforge_file": ganforge.__file__,
    "py_typed": r.files("ganforge").joinpath("py.typed").is_file(),
    "prefix": sys.prefix, "base_prefix": sys.base_prefix,
}))
"""


def _pypi_reachable() -> bool:
    try:
        socket.getaddrinfo("pypi.org", 443)
        return True
    except OSError:
        return False


def _clean_env(**extra: str) -> dict[str, str]:
    """No trace of the test's own environment: its venv, its PYTHONPATH, the repository."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSAFEPATH"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable: the client's dependencies cannot be installed")
    venv = tmp_path_factory.mktemp("client") / "venv"
    # sys._base_executable: a Python outside the test's own venv (a venv made from a venv's
    # python is fine too, but this says what is meant).
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=120, env=_clean_env())
    # A regular (not editable) install, as `pip install ganforge` would be; pip's own wheel cache
    # makes a repeat quick.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    str(CLIENT)], check=True, timeout=600, env=_clean_env(), cwd=venv.parent)
    return venv


def test_the_client_installs_without_the_servers_dependencies(client_venv):
    config = (client_venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config
    done = subprocess.run([str(client_venv / "bin" / "python"), "-c", INSTALLED], cwd=client_venv.parent,
                          env=_clean_env(), capture_output=True, text=True, timeout=60, check=True)
    found = json.loads(done.stdout)
    assert found["prefix"] != found["base_prefix"] and found["prefix"] == str(client_venv)
    assert Path(found["ganforge_file"]).is_relative_to(client_venv), "ganforge came from outside the venv"
    assert found["py_typed"], "py.typed is not in the installed package"
    distributions = set(found["distributions"])
    assert "ganforge" in distributions
    assert not distributions & SERVER_ONLY, f"the client pulled in {sorted(distributions & SERVER_ONLY)}"
    declared = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(declared) == 4 and {"httpx", "pydantic", "rich", "pillow"} <= distributions


def test_the_installed_command_generates_against_a_stack(client_venv, stack, tmp_path):
    command = client_venv / "bin" / "ganforge"
    version = subprocess.run([str(command), "--version"], env=_clean_env(), capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"ganforge {VERSION}"

    env = _clean_env(GANFORGE_URL=stack.api_url, GANFORGE_API_KEY=stack.admin_key)
    done = subprocess.run([str(command), "generate", "mnist-cdcgan", "--seed", "7", "--labels", "3", "-o", "three.png"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "three.png"
    image = Image.open(tmp_path / "three.png")
    assert image.format == "PNG" and image.size == (28, 28)
    darkest, brightest = image.convert("L").getextrema()
    assert brightest - darkest > 100, "a blank picture, not a digit"
