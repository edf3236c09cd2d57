# Every target sets itself up: the first run creates .venv and installs the
# package (editable) with its dev, docs and examples extras; later runs refresh
# it only when pyproject.toml changes. The dev extra brings Dask (tracegrad[dask]) for the
# Dask back end's tests and examples/out_of_core.py.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest-xdist workers (the suite is safe to run in parallel); `make test XDIST=0` runs serially
XDIST  ?= auto
PYTEST  = -m pytest -q -p no:cacheprovider $(if $(filter 0,$(XDIST)),,-n $(XDIST))

.PHONY: demo test test-floors smoke docs lint format bench notebook clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs,examples]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	@for script in examples/*.py; do \
	  case $$script in */out_of_core.py) args=--small;; *) args=;; esac; \
	  echo "== $$script $$args"; \
	  MPLBACKEND=Agg PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $$script $$args || exit 1; \
	done
	@echo "pictures written under out/"

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $(PYTEST)

# The suite against exactly the declared minimum versions (pyproject's >= floors),
# in a venv of its own; the package itself is installed without its dependencies.
# The scale tests (-m slow: 100k-op chains) and the fuzzers of our loader and code
# generator (-m fuzz: thousands of hostile inputs) exercise our code, not the
# dependencies' versions; they run in `make test` only, to keep .ci/run under its
# time budget.
FLOORS := .venv-floors
test-floors: pyproject.toml
	rm -rf $(FLOORS)
	$(PYTHON) -m venv $(FLOORS)
	$(FLOORS)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) .ci/floors.py > $(FLOORS)/floors.txt
	@echo "floors:"; sed 's/;.*//; s/^/  /' $(FLOORS)/floors.txt
	$(FLOORS)/bin/python -m pip install --quiet -r $(FLOORS)/floors.txt \
	  'pytest>=8' 'pytest-xdist>=3.5' 'hypothesis>=6.100' 'scipy>=1.13'
	$(FLOORS)/bin/python -m pip install --quiet --no-deps -e .
	PATH="$(CURDIR)/$(FLOORS)/bin:$$PATH" $(FLOORS)/bin/python $(PYTEST) -m "not slow and not fuzz"

# Build the sdist and wheel, install the wheel into a fresh venv outside the
# source tree, and run .ci/smoke.py there (imports, grad, compile, PNG, console script).
SMOKE := $(shell mktemp -u /tmp/tracegrad-smoke.XXXXXX)
smoke: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --quiet --outdir dist .
	@tar tzf dist/tracegrad-*.tar.gz | grep -qE '/tests/compiler/test_cli.py$$' && \
	  tar tzf dist/tracegrad-*.tar.gz | grep -qE '/(LICENSE|Makefile|docs/design.md|examples/chain_rule.py)$$' || \
	  { echo "smoke: the sdist lacks tests, docs, examples, Makefile or LICENSE"; exit 1; }
	$(PYTHON) -m venv $(SMOKE)
	$(SMOKE)/bin/python -m pip install --quiet dist/tracegrad-*.whl
	cp .ci/smoke.py $(SMOKE)/smoke.py
	cd $(SMOKE) && env -u PYTHONPATH ./bin/python smoke.py
	rm -rf $(SMOKE)

# The documentation site (mkdocs, API reference from the docstrings), built strictly.
docs: $(STAMP)
	$(BIN)/python docs/gen_numpy.py --check
	$(BIN)/mkdocs build --strict --quiet --site-dir site

# Runs docs/tutorial.ipynb top to bottom (nbclient); the executed copy is out/tutorial.ipynb.
notebook: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python docs/run_notebook.py

lint: $(STAMP)
	$(BIN)/ruff check tracer compiler tests examples benchmarks $(wildcard docs/*.py .ci/*.py)
	$(BIN)/ruff format --check tracer compiler tests examples benchmarks $(wildcard docs/*.py .ci/*.py)

format: $(STAMP)
	$(BIN)/ruff check --fix tracer compiler tests examples benchmarks $(wildcard docs/*.py .ci/*.py)
	$(BIN)/ruff format tracer compiler tests examples benchmarks $(wildcard docs/*.py .ci/*.py)

# Peers (torch, jax, autograd, DeZero, PyTensor) are installed here only, never by `make test`.
# OpenBLAS core-type overrides slow a current NumPy: unset for this command alone.
# `make bench BENCH_ARGS=--quick` is a smoke run (results in benchmarks/results-quick.*, never
# the full run's); `BENCH_ARGS="--threads 1"` on a busy machine.
bench: $(STAMP)
	@echo "bench: installing the peers (torch, jax, autograd, dezero, pytensor); this can take minutes"
	$(BIN)/python -m pip install --progress-bar on -r benchmarks/requirements.txt || \
	  for req in $$(grep -v '^ *#' benchmarks/requirements.txt); do \
	    echo "bench: installing $$req"; \
	    $(BIN)/python -m pip install --quiet "$$req" || \
	      echo "bench: $$req did not install; it is reported as unavailable"; \
	  done
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PATH="$(CURDIR)/$(BIN):$$PATH" \
	  $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(FLOORS) out dist site build .pytest_cache .ruff_cache
