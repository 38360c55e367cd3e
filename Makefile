# The two quick-start commands: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
DEMO_ARGS ?=
CHROMIUM := /usr/bin/chromium

.PHONY: setup browser-deps test test-fast lint demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The browser tests drive Debian's Chromium (nothing downloads its own browser). If it cannot be
# installed, say so and go on: those tests then FAIL with the reason, they never skip.
browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; } \
	    || echo "*** could not install chromium: the browser tests (aiq_pipeline_tests/e2e) will fail ***" >&2; \
	fi

# The whole suite, slow tests included (CI runs exactly this).
test: setup browser-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The quick loop while developing: everything but the slow end-to-end tests.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Both emulators with the demo tenant, DuckDB, a persistent DAGSTER_HOME (.demo/), the UI and the daemon.
# `make demo DEMO_ARGS=--fresh` starts over.
demo: setup
	$(BIN)/aiq-pipeline demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
