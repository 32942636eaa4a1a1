# Setup and the two Quick-start jobs. Every target creates .venv first if needed.
#
#   make demo   set up, then compare backends with `scaleml bench` (the main job)
#   make test   set up, then run the test suite
#
# PyTorch: a CPU build is installed first so that the `torch` extra is already met
# and pip never pulls a multi-GB CUDA build. On a GPU node, install the CUDA build
# of your choice instead (TORCH_SPEC / TORCH_PIP_ARGS), plus `pip install '.[gpu]'`.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
EXTRAS ?= all
BIN := $(VENV)/bin
STAMP := $(VENV)/.scaleml-installed
# scikit-learn's Array API support (the torch backend) needs SciPy's, read at import.
export SCIPY_ARRAY_API = 1

.PHONY: setup demo test bench-overhead clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("scaleml needs Python >= 3.10, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: setup
	$(BIN)/scaleml info --no-torch
	$(BIN)/scaleml bench --case digits-forest-search --repeat 5

# lint-imports checks the layer contracts in pyproject.toml (DESIGN.md's layers).
test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The local backend's overhead over the bare estimator (bench/BENCHMARKS.md).
bench-overhead: setup
	$(BIN)/scaleml bench --case synthetic-logreg --backends sklearn,local --repeat 21 --warmup 2 --no-memory --out bench/results

clean:
	rm -rf $(VENV) scaleml-results .pytest_cache
