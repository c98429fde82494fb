# Two commands set everything up on a fresh machine:
#   make demo   - create .venv, then walk through the registry on the embedded default
#   make test   - create .venv with every supported framework, then run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Azurite (the Azure Blob server of the stage tests) runs with the machine's Node.js; npm puts it
# under .venv/node, where tests/fixtures/azure.py looks for it
AZURITE_VERSION := 3.37.0

.PHONY: demo test lint test-fast test-packaging bench bench-quick bench-compare docs clean

# Installs print one line; pip's output goes to a log that is printed only when a step fails.
# `quietly LOG CMD...` runs CMD with its output appended to LOG.
quietly = run() { log=$$1; shift; "$$@" >>"$$log" 2>&1 || { cat "$$log" >&2; echo "make: failed: $$* (log: $$log)" >&2; exit 1; }; }; run

# mlreg is installed editable (a plain .pth entry: see package-dir in pyproject.toml)
$(STAMP): pyproject.toml constraints.txt
	@echo "Installing mlreg and its test dependencies into $(VENV) (a few minutes; log: $(VENV)/install.log)"
	@rm -f $(VENV)/install.log; mkdir -p $(VENV)
	@$(quietly) $(VENV)/install.log $(PYTHON) -m venv $(VENV)
	@$(quietly) $(VENV)/install.log $(BIN)/python -m pip install --upgrade pip
	@$(quietly) $(VENV)/install.log $(BIN)/python -m pip install -c constraints.txt -e '.[test]'
	@$(quietly) $(VENV)/install.log npm install --prefix $(VENV)/node --no-save --no-package-lock --no-audit \
		--no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	@touch $(STAMP)

demo: $(STAMP)
	@bash scripts/demo.sh

# the tests start a private PostgreSQL server: its binaries must be installed (installed here if missing)
test: $(STAMP) lint
	@bash scripts/ensure_postgres.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2

# guard rails (README, Layout): style and bugs, types, and the layers of the package
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache --no-logo

test-fast: $(STAMP)
	@bash scripts/ensure_postgres.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# the wheel in fresh virtualenvs on Python 3.10-3.13 (also part of `make test`)
test-packaging: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 tests/test_packaging.py tests/test_packaging_pickles.py

# Benchmarks: their own venv (mlreg + MLflow + GTO + profilers), never part of `make test`.
# `make bench` prints the full table; `make bench-quick` reduced sizes in under 3 minutes.
# Both also write their figures as JSON; `make bench-compare BASE=file.json` compares a
# kept run (e.g. main's) with the last quick one and fails when a workload is > 25% worse.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml constraints.txt benchmarks/requirements.txt
	@echo "Installing mlreg and the benchmark peers into $(BENCH_VENV) (log: $(BENCH_VENV)/install.log)"
	@rm -f $(BENCH_VENV)/install.log; mkdir -p $(BENCH_VENV)
	@$(quietly) $(BENCH_VENV)/install.log $(PYTHON) -m venv $(BENCH_VENV)
	@$(quietly) $(BENCH_VENV)/install.log $(BENCH_VENV)/bin/python -m pip install --upgrade pip
	@$(quietly) $(BENCH_VENV)/install.log $(BENCH_VENV)/bin/python -m pip install -c constraints.txt -r benchmarks/requirements.txt
	@$(quietly) $(BENCH_VENV)/install.log npm install --prefix $(BENCH_VENV)/node --no-save --no-package-lock \
		--no-audit --no-fund --loglevel=error azurite@$(AZURITE_VERSION)
	@touch $(BENCH_STAMP)

# mlreg runs from the tree (editable): compile it first, as an installed package would be,
# so that no run pays for compiling sources (PYTHONDONTWRITEBYTECODE may be set)
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m compileall -q mlreg
	$(BENCH_VENV)/bin/python benchmarks/run_all.py --output $(BENCH_VENV)/bench.md --json-output $(BENCH_VENV)/bench.json

bench-quick: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m compileall -q mlreg
	$(BENCH_VENV)/bin/python benchmarks/run_all.py --quick --output $(BENCH_VENV)/bench-quick.md --json-output $(BENCH_VENV)/bench-quick.json

BASE ?=
NEW  ?= $(BENCH_VENV)/bench-quick.json
bench-compare:
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=main.json [NEW=$(NEW)]" >&2; exit 2; }
	$(PYTHON) benchmarks/compare.py $(BASE) $(NEW)

docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py

clean:
	rm -rf $(VENV) .demo .pytest_cache
