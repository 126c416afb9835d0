# Each target bootstraps the local virtualenv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench distributed clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chibo demo $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check chibo services tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

distributed: $(STAMP)
	bash deploy/run-distributed.sh

clean:
	rm -rf $(VENV) var build *.egg-info
