"""The last step of an image build: `python docker/check_image.py 0|1` (the GPU build arg).

Fails the build, rather than the first job on a GPU machine, when the wrong builds of torch or
ONNX Runtime came in. Needs no GPU: it checks what was built, not what a machine has.
"""

import sys
from importlib import metadata

import onnxruntime
import torch


def installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
        return True
    except metadata.PackageNotFoundError:
        return False


gpu = sys.argv[1:] == ["1"]
image = "GPU" if gpu else "CPU"
problems = []
if (torch.version.cuda is not None) != gpu:
    problems.append(f"torch {torch.__version__} (CUDA {torch.version.cuda}) in the {image} image")
if gpu and installed("onnxruntime"):
    problems.append("the CPU onnxruntime beside onnxruntime-gpu: both own the `onnxruntime` module")
if installed("onnxruntime-gpu") != gpu:
    problems.append(f"onnxruntime-gpu {'missing from' if gpu else 'in'} the {image} image")
if ("CUDAExecutionProvider" in onnxruntime.get_available_providers()) != gpu:
    problems.append(f"ONNX Runtime's providers in the {image} image: {onnxruntime.get_available_providers()}")
if problems:
    sys.exit("image check failed:\n  " + "\n  ".join(problems))
print(f"{image} image: torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
      f"providers {onnxruntime.get_available_providers()}")
