# Two commands do all set-up on a fresh machine (see README):
#   make try    installs Kollega in .venv and plays the doctor's conversation in this terminal
#   make test   installs Kollega with its test tools in .venv and runs lint, types and tests:
#               the whole suite on SQLite, then again on PostgreSQL when a server answers at
#               KOLLEGA_TEST_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres;
#               each run makes its own databases and drops them). With none answering the
#               PostgreSQL pass is skipped, and says so, except in CI (CI=true), where that fails.
#   make test-sqlite / make test-postgres   one pass only (no lint, no types)
# `make run` starts the real bot with config.toml (created by `kollega init` if missing).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

.PHONY: install try run test test-sqlite test-postgres bench
install: $(STAMP)

try: $(STAMP)
	$(BIN)/kollega try

run: $(STAMP)
	test -f config.toml || $(BIN)/kollega init
	$(BIN)/kollega run --config config.toml

test: $(STAMP)
	$(BIN)/ruff check bot flows storage tests bench
	$(BIN)/mypy
	@echo "== the test suite on SQLite =="
	KOLLEGA_TEST_DATABASE=sqlite $(BIN)/pytest -q
	@if $(BIN)/python -m tests.pg probe; then \
		echo "== the test suite on PostgreSQL =="; \
		echo "KOLLEGA_TEST_DATABASE=postgres $(BIN)/pytest -q"; \
		KOLLEGA_TEST_DATABASE=postgres $(BIN)/pytest -q; \
	else \
		case "$$CI" in \
		true|TRUE|True|1) echo "make test: FAILED: CI=true and no PostgreSQL server answers; CI runs the suite on PostgreSQL too" >&2; exit 1;; \
		*) echo "make test: SKIPPED the PostgreSQL pass: no server answers (start one, or point KOLLEGA_TEST_DATABASE_URL at one)";; \
		esac; \
	fi

test-sqlite: $(STAMP)
	KOLLEGA_TEST_DATABASE=sqlite $(BIN)/pytest -q

test-postgres: $(STAMP)
	KOLLEGA_TEST_DATABASE=postgres $(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench
