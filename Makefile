# Each target bootstraps the local virtualenv from nothing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dashboard's chart library comes from npm and is served locally (never a CDN).
WEB := services/reporting/web

.PHONY: demo test test-calendar lint bench distributed clean

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

# The suite with the process's calendar moved to the 1st and to the 28th of a month
# (libfaketime, Debian package faketime): no test may depend on the day it runs.
CALENDAR_DAYS ?= 2026-12-01T00:30:00 2027-02-28T23:30:00
test-calendar: $(STAMP)
	@command -v faketime >/dev/null || { echo "make: needs faketime: apt-get install faketime" >&2; exit 1; }
	@for day in $(CALENDAR_DAYS); do \
	  echo "== the suite on $$day"; \
	  faketime -f "@$$(echo $$day | tr T ' ')" $(BIN)/pytest -q -p no:cacheprovider || exit 1; \
	done

# mypy checks the files listed in pyproject.toml's [tool.mypy].
lint: $(STAMP)
	$(BIN)/ruff check chibo services tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m bench --write docs/benchmarks.md

distributed: $(STAMP)
	bash deploy/run-distributed.sh

clean:
	rm -rf $(VENV) var build *.egg-info $(WEB)/node_modules
