# Setup and the two Quick-start jobs. Every target creates .venv first if needed.
#
#   make demo        set up, then compare backends with `scaleml bench` (the main job)
#   make test        set up, then run the whole test suite (what CI runs; ~12 min on 2 cores)
#   make test-quick  the suite without the tests marked slow (fault injection, scripts, notebooks)
#   make docs        build the docs site into build/docs (mkdocs, warnings are errors)
#   make shell       a shell with .venv active, so `scaleml` is on PATH
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
# Material for MkDocs prints a banner about MkDocs 2 on every build; the pins hold 1.6.
export NO_MKDOCS_2_WARNING = 1

.PHONY: setup system-packages demo test test-quick docs shell bench-overhead clean

setup: $(STAMP) system-packages

# Debian packages the tests need (sshd for the kind: ssh tests, ...): installed when run as
# root, a note otherwise (those tests then skip with the reason). Quick when already there.
system-packages:
	@sh tools/system-packages.sh

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("scaleml needs Python >= 3.10, found " + sys.version.split()[0]) if sys.version_info < (3, 10) else None'
	@echo "setup 1/4: virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@echo "setup 2/4: pip"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=23"
	@echo "setup 3/4: PyTorch ($(TORCH_SPEC); a CPU build from a local wheel takes under a minute)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	@echo "setup 4/4: scaleml and its extras [$(EXTRAS)] (dask, scikit-learn, Jupyter for the tests: 1-2 minutes)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)
	@echo "setup done: run scaleml as $(BIN)/scaleml, or 'make shell' for a shell where it is on PATH"

demo: setup
	$(BIN)/scaleml info --no-torch
	$(BIN)/scaleml bench --case digits-forest-search --repeat 5

# lint-imports checks the layer contracts in pyproject.toml (DESIGN.md's layers);
# the docs site must build without a warning (its snippets run in tests/test_docs.py).
test: setup
	$(BIN)/lint-imports
	$(BIN)/mkdocs build --strict --quiet
	$(BIN)/python -m pytest

# The docs site (mkdocs.yml, docs/) into build/docs; `--strict`: a warning fails it.
# Preview while writing: $(BIN)/mkdocs serve
docs: setup
	$(BIN)/mkdocs build --strict

test-quick: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m "not slow"

shell: setup
	@echo "scaleml is on PATH here; exit to leave"
	@. $(BIN)/activate && exec $${SHELL:-bash} -i

# The local backend's overhead over the bare estimator (bench/BENCHMARKS.md).
bench-overhead: setup
	$(BIN)/scaleml bench --case synthetic-logreg --backends sklearn,local --repeat 21 --warmup 2 --no-memory --out bench/results

# scikit-learn's own tests, plainly and inside each backend (docs/guide/sklearn-suite.md):
# every test that passes plainly passes, except src/scaleml/pytest_expected_failures.yaml's.
SKLEARN_SUITE ?= sklearn.model_selection.tests.test_search sklearn.model_selection.tests.test_validation \
	sklearn.ensemble.tests.test_forest sklearn.inspection.tests.test_permutation_importance \
	sklearn.feature_selection.tests.test_rfe
SUITE_PYTEST = $(BIN)/python -m pytest -q -p no:cacheprovider -p scaleml.pytest_plugin
.PHONY: sklearn-suite
sklearn-suite: setup
	$(SUITE_PYTEST) --pyargs $(SKLEARN_SUITE)
	$(SUITE_PYTEST) --scaleml-backend dask --pyargs $(SKLEARN_SUITE)
	$(SUITE_PYTEST) --scaleml-backend local --scaleml-option n_jobs=-1 --pyargs $(SKLEARN_SUITE)

clean:
	rm -rf $(VENV) scaleml-results .pytest_cache
