# Two commands do all set-up on a fresh machine (see README):
#   make try    installs Kollega in .venv and plays the doctor's conversation in this terminal
#   make test   installs Kollega with its test tools in .venv and runs lint, types and tests
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

.PHONY: install try run test bench
install: $(STAMP)

try: $(STAMP)
	$(BIN)/kollega try

run: $(STAMP)
	test -f config.toml || $(BIN)/kollega init
	$(BIN)/kollega run --config config.toml

test: $(STAMP)
	$(BIN)/ruff check bot flows storage tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench
