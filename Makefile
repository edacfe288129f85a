# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use
# and reinstall only when pyproject.toml changes (the stamp file carries its checksum).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUM := $(shell cksum < pyproject.toml | cut -d' ' -f1)
DEMO_STAMP := $(VENV)/.demo-$(SUM)
DEV_STAMP := $(VENV)/.dev-$(SUM)

.PHONY: demo test lint typecheck system-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	rm -f $(VENV)/.demo-* && touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.dev-* $(VENV)/.demo-* && touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/cwb demo $(ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports  # the layers in docs/architecture.md ([tool.importlinter])

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# OS packages a few tests need (libfaketime, chromium, openssl): see the script.
system-deps:
	bash .ci/install-system-deps.sh

test: lint typecheck system-deps
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	bash bench/run_all.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
