# Two commands: `make run` (set up, then run the pipeline on the bundled default data) and
# `make test` (set up, then run the tests). Both are idempotent: setup only reinstalls when
# pyproject.toml or constraints.txt changed. pip byte-compiles one file at a time; compileall
# -j0 does it on every core, and skips the installed packages' own test suites. Like pip, it
# lets a file written for a newer Python stay uncompiled (torch ships one), hence `|| true`.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Prefect runs offline with its temporary local server, its state in .prefect/: `gantl run`
# and the tests set that up themselves (flows/env.py), so nothing here repeats it.
# Real digit files (MNIST t10k, USPS) for the tests and benchmarks, when present.
export GANTL_SHARED_DATA ?= $(abspath $(CURDIR)/../shared/data)

.PHONY: setup run test lint clean push pull

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-compile -c constraints.txt -e '.[dev]'
	$(BIN)/python -m compileall -qq -j0 -x '/tests?/' $(VENV)/lib || true
	touch $(STAMP)

run: setup
	$(BIN)/gantl run

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# DVC data to/from the remote (default `storage`, see .dvc/config); `make push REMOTE=name`.
push: setup
	$(BIN)/gantl data push $(if $(REMOTE),--remote $(REMOTE))

pull: setup
	$(BIN)/gantl data pull $(if $(REMOTE),--remote $(REMOTE))

clean:
	rm -rf .prefect data models metrics plots
