"""An image's requirement set, derived from pyproject.toml so the two cannot drift.

    python docker/requirements.py cpu|gpu > requirements.txt

The image installs this set, then the client and the server with
`pip install --no-deps ./clients/python .`. It cannot simply `pip install .`: pyproject's base
dependencies name the CPU `onnxruntime`, which must not sit beside `onnxruntime-gpu` in the GPU
image (both own the `onnxruntime` module; the last one installed wins, file by file).

- both: the client `ganforge`, which the server requires by name, is this repository's own
  (clients/python), not the index's: the set names its dependencies in its place.

- cpu: torch's CPU build from the PyTorch CPU index (no ~3 GB of CUDA wheels to download) and
  onnxruntime.
- gpu: torch from PyPI, which is its CUDA build on Linux x86_64, and pyproject's `gpu` extra in
  place of onnxruntime: onnxruntime-gpu with its `cuda` and `cudnn` extras, which bring CUDA and
  cuDNN as wheels, so the image needs no CUDA base image, only the host's driver.
"""

import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = REPO / "pyproject.toml"
CLIENT_PYPROJECT = REPO / "clients" / "python" / "pyproject.toml"
CLIENT = "ganforge"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def name_of(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group(0)).lower()


def requirements(device: str) -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    options, lines = [], []
    for requirement in project["dependencies"]:
        name = name_of(requirement)
        if name == CLIENT:
            lines.extend(client_requirements(besides=project["dependencies"]))
        elif name == "onnxruntime" and device == "gpu":
            for gpu in project["optional-dependencies"]["gpu"]:
                lines.append(re.sub(r"^onnxruntime-gpu(\[[^]]*\])?", "onnxruntime-gpu[cuda,cudnn]", gpu))
        elif name == "torch" and device == "cpu":
            # Pinned to the +cpu local version: were the index missing, the install fails instead
            # of quietly taking PyPI's CUDA build.
            version = re.fullmatch(r"torch\s*==\s*([\w.]+)", requirement)
            if version is None:
                sys.exit(f"pyproject.toml must pin torch exactly (torch==X.Y.Z), not {requirement!r}")
            options.append(f"--extra-index-url {TORCH_CPU_INDEX}")
            lines.append(f"torch=={version.group(1)}+cpu")
        else:
            lines.append(requirement)
    return options + lines


def client_requirements(besides: list[str]) -> list[str]:
    """The client's dependencies that the server does not already name (one line per name)."""
    named = {name_of(requirement) for requirement in besides}
    client = tomllib.loads(CLIENT_PYPROJECT.read_text())["project"]
    return [requirement for requirement in client["dependencies"] if name_of(requirement) not in named]


if __name__ == "__main__":
    if sys.argv[1:] not in (["cpu"], ["gpu"]):
        sys.exit("usage: python docker/requirements.py cpu|gpu")
    print("\n".join(requirements(sys.argv[1])))
