# Every target sets itself up: the first run creates .venv and installs the
# package (editable) with its dev and examples extras; later runs refresh it
# only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format bench notebook clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,examples]'
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p out
	@for script in examples/*.py; do \
	  echo "== $$script"; \
	  MPLBACKEND=Agg PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $$script || exit 1; \
	done
	@echo "pictures written under out/"

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

# Runs docs/tutorial.ipynb top to bottom (nbclient); the executed copy is out/tutorial.ipynb.
notebook: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python docs/run_notebook.py

lint: $(STAMP)
	$(BIN)/ruff check tracer compiler tests examples benchmarks
	$(BIN)/ruff format --check tracer compiler tests examples benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix tracer compiler tests examples benchmarks
	$(BIN)/ruff format tracer compiler tests examples benchmarks

# Peers (torch, jax, autograd, DeZero) are installed here only, never by `make test`.
# OpenBLAS core-type overrides slow a current NumPy: unset for this command alone.
# `make bench BENCH_ARGS=--quick` is a smoke run; `BENCH_ARGS="--threads 1"` on a busy machine.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt || \
	  for req in $$(grep -v '^ *#' benchmarks/requirements.txt); do \
	    $(BIN)/python -m pip install --quiet "$$req" || \
	      echo "bench: $$req did not install; it is reported as unavailable"; \
	  done
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PATH="$(CURDIR)/$(BIN):$$PATH" \
	  $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
