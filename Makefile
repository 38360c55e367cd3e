# The two quick-start commands: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup test test-fast lint demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The whole suite, slow tests included (CI runs exactly this).
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The quick loop while developing: everything but the slow end-to-end tests.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Both emulators with the demo tenant, DuckDB, a persistent DAGSTER_HOME, the UI and the daemon.
demo: setup
	$(BIN)/aiq-pipeline demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
