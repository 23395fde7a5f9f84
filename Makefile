# Every target creates .venv when it is absent, so each one works on a fresh clone.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
export TORCHLAB_DATA ?= $(abspath ../shared/datasets)

.PHONY: run install test test-fast lint bench bench-recipes bench-phases clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade 'pip>=25.3'

# torch/torchvision are pinned here to the builds this machine carries on disk;
# pyproject.toml keeps ranges so that other machines may use other builds.
# visdom builds from source with an old setuptools: build-constraints.txt (pip >= 25.3) pins it.
$(STAMP): pyproject.toml build-constraints.txt | $(PY)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet --build-constraint build-constraints.txt -e '.[dev,visdom,onnx]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/torchlab train mnist-mlp

test: $(STAMP)
	$(PY) -m pytest

# The tests not marked slow (no real-data training, no child process): about 20 s on two idle cores.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples  # the notebooks too (their layer rows stay hand-aligned)
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports --no-cache --no-logo  # the layers of pyproject.toml's [tool.importlinter]

# Writes BENCHMARKS.md (about 10 minutes on two idle cores); BENCH_ARGS=--quick is a smoke run.
# Figure 4 needs the bench extra (`pip install -e '.[bench]'`, i.e. lightning); without it, it says so.
bench: $(STAMP)
	PYTHONPATH=src $(PY) benchmarks/bench.py --out BENCHMARKS.md $(BENCH_ARGS)

# Every recipe with its defaults against its quality bar, one whole command at a time (hours on two
# idle cores); its table replaces its own section of BENCHMARKS.md. BENCH_ARGS="--only R1,R2 --seeds 3".
bench-recipes: $(STAMP)
	PYTHONPATH=src $(PY) benchmarks/recipes.py --out BENCHMARKS.md --readme README.md $(BENCH_ARGS)

# Start-up, first step and pictures of one command, as ratios to `import torch` in the same run.
bench-phases: $(STAMP)
	PYTHONPATH=src $(PY) benchmarks/phases.py --out BENCHMARKS.md $(BENCH_ARGS)

clean:
	rm -rf runs .pytest_cache .ruff_cache
