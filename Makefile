# Each target bootstraps the local virtualenv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's chart library comes from npm and is served locally (never a CDN).
WEB := services/reporting/web

.PHONY: demo test lint bench distributed clean

$(STAMP): pyproject.toml $(WEB)/package.json $(WEB)/package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	npm ci --prefix $(WEB) --no-audit --no-fund
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chibo demo $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check chibo services tests bench

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m bench --write docs/benchmarks.md

distributed: $(STAMP)
	bash deploy/run-distributed.sh

clean:
	rm -rf $(VENV) var build *.egg-info $(WEB)/node_modules
