# The two quick-start commands: `make demo` and `make test`. Both set themselves up.
#
# Installs come from uv.lock, every extra included (emulators, postgres, dev), so a fresh machine gets the
# versions that were tested, not the newest its ranges allow. Only python3 (3.11+) is needed: `make` puts
# uv (pinned below) into .tools/, its own git-ignored environment, so a sync of .venv (which removes what
# the lock does not list) never removes uv itself; uv then builds .venv from the lock, the project editable.
#
# Updating the lock (commit uv.lock together with pyproject.toml):
#   make lock                                         after changing dependencies in pyproject.toml
#                                                     (`make setup` also does it then, except under CI)
#   .tools/bin/uv lock --upgrade-package dagster      one package to the newest version its range allows
#   .tools/bin/uv lock --upgrade                      every package
# then `make setup` installs the new lock. CI (CI=true) installs the committed lock exactly (--locked) and
# fails if pyproject.toml has changed without it.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TOOLS  := .tools
UV_VERSION := 0.13.9
UV     := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.uv-$(UV_VERSION)
UV_SYNC_FLAGS := $(if $(CI),--locked,)
PYTEST_ARGS ?=
# test processes: one more than the cores, since most tests wait on emulators and Dagster processes (on the 2-core CI
# machines 3 workers took 15:49 where 2 took 20:24, same clone); 0 = one process
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
DEMO_ARGS ?=
CHROMIUM := /usr/bin/chromium

# uv uses the python3 found here and never downloads an interpreter of its own; .venv may be renamed.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup bytecode lock browser-deps test test-fast lint demo clean

# uv's wheel is one binary: python3's own pip puts it into .tools/bin in about 3 s; where python3 has no
# pip (only venv), a virtual environment's pip does it in about 10 s.
$(UV_STAMP):
	rm -rf $(TOOLS)
	if $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
	    --target $(TOOLS) uv==$(UV_VERSION); \
	else \
	  $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION); \
	fi
	touch $@

# Bytecode is compiled ahead: where PYTHONDONTWRITEBYTECODE is set (as on the CI machines), every Python process
# (each CLI call, Dagster run, daemon and code server) would otherwise compile Dagster from source again, about 2 s
# of CPU each. uv compiles the installed packages; `bytecode` the project's own (installed editable, so they change).
$(STAMP): pyproject.toml uv.lock $(UV_STAMP) Makefile
	$(UV) sync --quiet --all-extras --compile-bytecode $(UV_SYNC_FLAGS) --python $(PYTHON)
	touch $(STAMP)

bytecode: setup
	$(BIN)/python -m compileall -q aiq_pipeline aiq_emulators >/dev/null

setup: $(STAMP)

lock: $(UV_STAMP)
	$(UV) lock --python $(PYTHON)

# Style, types and layers (pyproject.toml: [tool.ruff], [tool.mypy], [tool.importlinter]); `make test` runs it first.
# Every check runs, so one failure does not hide the next; the target fails if any did, naming them.
LINT_CHECKS := "ruff check ." "ruff format --check ." "mypy" "lint-imports"
lint: setup
	@failed=; for check in $(LINT_CHECKS); do \
	  echo "== $$check"; $(BIN)/$$check || failed="$$failed [$$check]"; \
	done; \
	if [ -n "$$failed" ]; then echo "*** lint failed:$$failed" >&2; exit 1; fi

# The browser tests drive Debian's Chromium (nothing downloads its own browser). If it cannot be
# installed, say so and go on: those tests then FAIL with the reason, they never skip.
browser-deps:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; } \
	    || echo "*** could not install chromium: the browser tests (aiq_pipeline_tests/e2e) will fail ***" >&2; \
	fi

# The lint first, then the whole suite, slow tests included (CI runs exactly this).
# Idle workers take tests queued for busy ones (--dist worksteal): the few long tests do not pile up at the end.
test: lint browser-deps bytecode
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The quick loop while developing: everything but the slow end-to-end tests.
test-fast: bytecode
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not slow" $(PYTEST_ARGS)

# Both emulators with the demo tenant, DuckDB, a persistent DAGSTER_HOME (.demo/), the UI and the daemon.
# `make demo DEMO_ARGS=--fresh` starts over.
demo: bytecode
	$(BIN)/aiq-pipeline demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .ruff_cache
