# Two verbs a new user needs: `make run` and `make test`. Both set themselves up.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench docs clean

# One stamp per set of packages: `make run` installs only what serving needs.
$(VENV)/.run: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e .
	touch $@

$(VENV)/.test: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.run

$(VENV)/.lint: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,lint]'
	touch $@ $(VENV)/.test $(VENV)/.run

## Start the server on its embedded development defaults (SQLite under ./data, throw-away secrets).
run: $(VENV)/.run
	$(BIN)/twi-overlay serve

## Install everything the tests use (Python and Debian packages), then run the whole suite.
test: $(VENV)/.test
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## ruff (lint and format) and mypy --strict over twi_overlay/.
lint: $(VENV)/.lint
	$(BIN)/ruff check twi_overlay tests bench scripts
	$(BIN)/ruff format --check twi_overlay tests bench scripts
	$(BIN)/mypy

## The README's configuration table, from the settings declared in twi_overlay/config.py.
docs: $(VENV)/.run
	$(BIN)/python scripts/config-table.py
	$(BIN)/python scripts/route-table.py

bench: $(VENV)/.test
	bash scripts/bench-deps.sh
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/sse.py
	$(BIN)/python bench/ttl.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache
