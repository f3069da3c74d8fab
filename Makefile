# Two verbs a new user needs: `make run` and `make test`. Both set themselves up.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench setup clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

## Start the server on its embedded development defaults (SQLite under ./data, throw-away secrets).
run: $(STAMP)
	$(BIN)/twi-overlay serve

## Install everything the tests use (Python and Debian packages), then run the whole suite.
test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check twi_overlay tests bench scripts
	$(BIN)/ruff format --check twi_overlay tests bench scripts

bench: $(STAMP)
	bash scripts/bench-deps.sh
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/sse.py

clean:
	rm -rf $(VENV) data .pytest_cache
