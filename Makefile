# emostream: `make run` runs the pipeline on the bundled demo clip, `make test` runs the suite.
# Both create the virtual environment in .venv/ first if it is missing or stale.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements/dev.lock
PYTEST_ARGS ?=

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

# Everything (serving, training, dev tools) at the versions and hashes of requirements/dev.lock,
# then emostream itself, editable, without resolving again. scripts/lock.sh regenerates the lock.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

system-deps:
	@bash scripts/system-deps.sh

run: venv
	$(VENV)/bin/emostream run

test: venv system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

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
	$(PY) -m benchmarks.soak --minutes 20 --sources 4
