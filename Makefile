# Two commands for a fresh machine with only python3:  make demo  and  make test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: test lint demo bench bench-quick layer clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[all,dev]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[all,dev,bench]'
	touch $(BENCH_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# Every benchmarks/bench_*.py, one interpreter each; rewrites benchmarks/RESULTS.md (a few minutes).
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

# A short smoke run of every comparison; prints the tables and leaves RESULTS.md alone.
bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks --quick --no-write

# The AWS Lambda layers: dist/obskit-layer-python3.12-{x86_64,arm64}.zip, obskit and orjson only
# (orjson's wheels for the target come from the package index); prints their sizes.
layer: $(STAMP)
	$(BIN)/python tools/build_layer.py --python 3.12 --arch x86_64 --arch arm64

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info
