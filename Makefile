# Two commands set everything up on a fresh machine:
#   make demo   - create .venv, then walk through the registry on the embedded default
#   make test   - create .venv with every supported framework, then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast bench bench-quick docs clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

demo: $(STAMP)
	@bash scripts/demo.sh

# the tests start a private PostgreSQL server: its binaries must be installed (installed here if missing)
test: $(STAMP)
	@bash scripts/ensure_postgres.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2

test-fast: $(STAMP)
	@bash scripts/ensure_postgres.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# Benchmarks: their own venv (mlreg + MLflow + GTO + profilers), never part of `make test`.
# `make bench` prints the full table; `make bench-quick` reduced sizes in under 3 minutes.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml constraints.txt benchmarks/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -c constraints.txt -r benchmarks/requirements.txt --config-settings editable_mode=compat
	touch $(BENCH_STAMP)

# mlreg runs from the tree (editable): compile it first, as an installed package would be,
# so that no run pays for compiling sources (PYTHONDONTWRITEBYTECODE may be set)
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m compileall -q mlreg
	$(BENCH_VENV)/bin/python benchmarks/run_all.py --output $(BENCH_VENV)/bench.md --json-output $(BENCH_VENV)/bench.json

bench-quick: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m compileall -q mlreg
	$(BENCH_VENV)/bin/python benchmarks/run_all.py --quick --output $(BENCH_VENV)/bench-quick.md

docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py

clean:
	rm -rf $(VENV) .demo .pytest_cache
