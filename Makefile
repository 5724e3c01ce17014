# frontier-hub: `make run` serves the demo, `make test` runs the tests. Nothing else needs installing but Python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HUB_HOST ?= 127.0.0.1
HUB_PORT ?= 8000

.PHONY: run test install install-test schema lint clean bench-live

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/hub serve --demo --host $(HUB_HOST) --port $(HUB_PORT)

test: install-test lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check hub schema tests docs/examples
	$(BIN)/ruff format --check hub schema tests docs/examples
	$(BIN)/mypy hub schema

schema: install
	$(BIN)/hub schema > schema/schema.graphql

bench-live: install-test
	$(BIN)/python bench/subscriptions.py

clean:
	rm -rf $(VENV) .pytest_cache
