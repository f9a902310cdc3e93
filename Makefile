# Two commands do all set-up on a fresh machine (see README):
#   make try    installs Kollega in .venv and plays the doctor's conversation in this terminal
#   make test   installs Kollega with its test tools in .venv and runs lint, the format check, types
#               and tests: the whole suite on SQLite, then again on PostgreSQL when a server answers at
#               KOLLEGA_TEST_DATABASE_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres;
#               each run makes its own databases and drops them). With none answering the
#               PostgreSQL pass is skipped, and says so, except in CI (CI=true), where that fails.
#   make test-sqlite / make test-postgres   one pass only (no lint, no format check, no types)
# `make run` starts the real bot with config.toml (created by `kollega init` if missing).
#
# `make install` (which the others run first) makes .venv from requirements.lock: every dependency
# and test tool at the version pinned there, checked against its hashes (pip --require-hashes), then
# Kollega itself, editable, without resolving anything (--no-deps). It runs again whenever
# pyproject.toml or requirements.lock changes.
# `make lock` regenerates requirements.lock (Python 3.11, Linux) from pyproject.toml's dependencies
# and its `test` extra with pip-tools, run from a throwaway venv (pip-tools is no dependency of
# Kollega's); pins still allowed by pyproject.toml are kept. `make lock LOCK_ARGS=--upgrade` moves
# every pin to the newest release allowed (`LOCK_ARGS=--upgrade-package=NAME` just one). Commit the
# new lock with the pyproject.toml change that needed it.
#
# Optional git hooks: `pip install pre-commit && pre-commit install` (pre-commit in any environment
# of yours, not .venv) runs ruff check, ruff format --check and mypy from .venv before each commit,
# as .pre-commit-config.yaml says; `pre-commit run --all-files` runs them on everything.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
LOCK_ARGS ?=

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pybabel compile --domain kollega --directory flows/locales --statistics
	touch $(STAMP)

.PHONY: install lock catalogues try run test test-sqlite test-postgres bench
install: $(STAMP)

# pip-compile reads pyproject.toml (the `test` extra too) and writes every pin with its hashes;
# CUSTOM_COMPILE_COMMAND is what the lock's header says to run. No index or find-links lines are
# written, so the lock names no machine's pip configuration.
lock:
	@tmp="$$(mktemp -d)" && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp/venv" && \
	{ "$$tmp/venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) or sys.platform != "linux")' \
		|| { echo "make lock: the lock is for Python 3.11 on Linux; run it with PYTHON=python3.11 there" >&2; exit 1; }; } && \
	"$$tmp/venv/bin/pip" install --quiet --upgrade pip pip-tools && \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tmp/venv/bin/pip-compile" --quiet --extra test --generate-hashes \
		--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) --output-file $(LOCK) pyproject.toml

# The message catalogues (flows/catalogue.py): extract every key from the code into the template,
# bring the nb, nn and en translations in line with it (a new key arrives empty, a removed one is
# dropped) and compile them. tests/test_catalogues.py fails when the committed files lag the code.
PYBABEL_EXTRACT := extract --mapping-file babel.cfg --no-default-keywords --keyword Text --keyword Plural:1,2 \
	--keyword N_ --add-comments TRANSLATORS: --sort-by-file --no-location
catalogues: $(STAMP)
	$(BIN)/pybabel $(PYBABEL_EXTRACT) --output-file flows/locales/kollega.pot .
	$(BIN)/pybabel update --domain kollega --input-file flows/locales/kollega.pot --output-dir flows/locales \
		--no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/pybabel compile --domain kollega --directory flows/locales --statistics

try: $(STAMP)
	$(BIN)/kollega try

run: $(STAMP)
	test -f config.toml || $(BIN)/kollega init
	$(BIN)/kollega run --config config.toml

test: $(STAMP)
	$(BIN)/ruff check bot flows storage tests bench
	$(BIN)/ruff format --check bot flows storage tests bench
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
