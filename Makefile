# Each target bootstraps the local virtualenv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's chart library comes from npm and is served locally (never a CDN).
WEB := services/reporting/web

.PHONY: demo test lint bench distributed clean

# PyICU (Vietnamese collation) compiles against the system's ICU: say which Debian
# package is missing rather than let pip fail deep inside a C++ build.
define need
	@$(1) >/dev/null 2>&1 || { echo "make: PyICU builds from source and needs $(2), which this machine lacks." \
	  "Install it first: apt-get install $(3)" >&2; exit 1; }
endef

$(STAMP): pyproject.toml $(WEB)/package.json $(WEB)/package-lock.json
	$(call need,command -v pkg-config,pkg-config,pkg-config)
	$(call need,pkg-config --exists icu-i18n,ICU's development files (icu-i18n.pc),libicu-dev)
	$(call need,command -v c++,a C++ compiler (c++),g++)
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
