"""What a type checker (mypy) reads from the client: each call's result on Client, the same result
to await on AsyncClient, and a wrongly typed argument reported."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy comes with the test extra")

REPO = Path(__file__).resolve().parents[3]

USAGE = '''
import ganforge

def sync(gf: ganforge.Client) -> None:
    reveal_type(gf.generate("mnist-cdcgan", seed=7))
    reveal_type(gf.upscale(b"png", "sr-x4"))
    reveal_type(gf.train("cdcgan", "digits", "mine"))
    reveal_type(gf.jobs.get("id"))
    reveal_type(gf.jobs.iter())
    reveal_type(gf.models.list())
    reveal_type(gf.datasets.upload("faces/"))
    gf.generate("mnist-cdcgan", seed="seven")

async def asynchronous(gf: ganforge.AsyncClient) -> None:
    reveal_type(gf.generate("mnist-cdcgan", seed=7))
    reveal_type(await gf.jobs.get("id"))
    reveal_type(gf.jobs.iter())
    reveal_type(await gf.models.download("mnist-cdcgan"))
'''

EXPECTED = [
    "list[PIL.Image.Image]",
    "PIL.Image.Image",
    "ganforge.types.Manifest | ganforge.types.Job",
    "ganforge.types.Job",
    "typing.Iterator[ganforge.types.Job]",
    "list[ganforge.types.ModelSummary]",
    "ganforge.types.Dataset",
    "typing.Awaitable[list[PIL.Image.Image]]",
    "ganforge.types.Job",
    "typing.AsyncIterator[ganforge.types.Job]",
    "bytes",
]


def test_mypy_reads_every_result_and_awaitable(tmp_path):
    (tmp_path / "usage.py").write_text(USAGE)
    # The package from its folder, as a type checker finds an installed one by its py.typed; the
    # cache kept between runs (a cold run reads pydantic, httpx and Pillow: seconds).
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(REPO / ".pytest_cache" / "mypy"),
         "--follow-imports=silent", "usage.py"],
        cwd=tmp_path, env={"MYPYPATH": str(REPO / "clients" / "python"), "PATH": ""}, capture_output=True,
        text=True, timeout=300,
    )
    lines = done.stdout.splitlines()
    revealed = [re.search(r'Revealed type is "(.*)"', line).group(1) for line in lines if "Revealed type" in line]
    assert revealed == EXPECTED, done.stdout + done.stderr
    errors = [line for line in lines if ": error:" in line]
    assert len(errors) == 1 and 'Argument "seed"' in errors[0] and '"int | None"' in errors[0], errors
