# The README's commands: `make demo` (or `make run`) and `make test`.  Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run demo test install lint clean screenshots

$(BIN)/exeunt: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

install: $(BIN)/exeunt

## Install and run the provider on the embedded default (SQLite file ./exeunt.db, port 8000).
run: install
	$(BIN)/exeunt serve

## Install and start the provider plus three sample apps; open the printed URL (http://localhost:8000).
demo: install
	bash scripts/install-examples
	$(BIN)/exeunt demo

## Regenerate the README's screenshots (docs/img) from the real demo in headless Chromium (ports 8000-8003, 8010).
screenshots: install
	$(BIN)/pip install --quiet -e '.[test]'
	bash scripts/install-examples
	$(BIN)/python scripts/screenshots.py

## Install everything the tests need (Python packages, Debian's chromium, the npm test apps) and run them all.
test:
	bash scripts/test

lint: install
	$(BIN)/ruff check src tests alembic bench examples scripts
	$(BIN)/ruff format --check src tests alembic bench examples scripts
	$(BIN)/mypy --strict src

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
