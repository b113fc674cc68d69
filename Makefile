# emostream: `make run` runs the pipeline on the bundled demo clip, `make test` runs the suite.
# Both create the virtual environment in .venv/ first if it is missing or stale: `make run` with
# what the demo needs (requirements/cpu.lock, about 0.8 GiB), `make test` with everything
# (requirements/dev.lock: TensorFlow, JAX, test and ops tools, about 3.8 GiB) in the same .venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
RUN_STAMP  := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp
RUN_LOCK   := requirements/cpu.lock
LOCK   := requirements/dev.lock
CHECKOV_VENV := $(VENV)/tools/checkov
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check
PYTEST_ARGS ?=
# The suite runs on several pytest processes (pytest-xdist), a test file per process so that a file's
# fixtures (its own Redis, a cluster, a loaded model) start once: one per core, at most 4 (each
# process that loads TensorFlow holds about 2 GiB). TEST_WORKERS=0 runs it in this process alone.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(min(4, len(os.sched_getaffinity(0))))')
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

.PHONY: help venv run test test-fast bench soak lint lock docs system-deps clean

help:
	@echo "make run        run the whole pipeline on the bundled demo clip (embedded Redis)"
	@echo "make test       set up and run the whole test suite"
	@echo "make test-fast  unit and integration tests only (no slow end-to-end tests)"
	@echo "make bench      measure throughput, latency and memory per role, write docs/BENCHMARKS.md"
	@echo "make soak       20-minute stability run, write docs/SOAK.md"
	@echo "make docs       regenerate the configuration reference in docs/configuration.md"
	@echo "make lint       ruff and mypy"
	@echo "make lock       regenerate requirements/*.lock after changing dependencies in pyproject.toml"

# The demo's environment: the serving roles at the versions and hashes of requirements/cpu.lock,
# then emostream itself, editable, without resolving again. A .venv that `make test` set up
# already holds all of it (cpu.lock pins dev.lock's versions: tests/test_lock.py), so nothing
# is installed then. scripts/lock.sh regenerates the locks.
$(RUN_STAMP): pyproject.toml $(RUN_LOCK)
	@if [ -f $(TEST_STAMP) ] && [ $(TEST_STAMP) -nt pyproject.toml ] && [ $(TEST_STAMP) -nt $(LOCK) ] && [ $(TEST_STAMP) -nt $(RUN_LOCK) ]; then \
		echo "$(VENV) has the dev lock (make test): nothing to install"; \
	else \
		set -e; test -x $(PY) || $(PYTHON) -m venv $(VENV); \
		$(PIP) --upgrade pip; \
		$(PIP) --require-hashes -r $(RUN_LOCK); \
		$(PIP) --no-deps -e .; \
	fi
	@touch $@

# Everything (serving, training, dev tools) at the versions and hashes of requirements/dev.lock, into
# the same .venv (after `make run` this adds what the demo did not need), and checkov from its own
# lock into a venv of its own (.venv/tools/checkov, linked as .venv/bin/checkov): its pins
# conflict with pytest's and scikit-image's (requirements/checkov.in).
$(TEST_STAMP): pyproject.toml $(LOCK) requirements/checkov.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) --require-hashes -r $(LOCK)
	$(PIP) --no-deps -e .
	@test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/checkov.lock
	ln -sf ../tools/checkov/bin/checkov $(VENV)/bin/checkov
	@touch $@

venv: $(TEST_STAMP)

system-deps:
	@bash scripts/system-deps.sh

run: $(RUN_STAMP)
	$(VENV)/bin/emostream run

test: venv system-deps
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

bench: venv
	$(PY) -m benchmarks

docs: venv
	$(PY) -m emostream.config.doc docs/configuration.md

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy src benchmarks

lock: venv
	PYTHON=$(PY) bash scripts/lock.sh

clean:
	rm -rf $(VENV) build dist .pytest_cache sessions

soak: venv
	$(PY) -m benchmarks.soak --minutes 20 --sources 3
