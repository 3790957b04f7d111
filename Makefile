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

.PHONY: setup browser run test lint clean push pull

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-compile -c constraints.txt -e '.[dev]'
	$(BIN)/python -m compileall -qq -j0 -x '/tests?/' $(VENV)/lib || true
	touch $(STAMP)

run: setup
	$(BIN)/gantl run

# Debian's chromium, for the tests that load the HTML report in a real headless browser
# (tests/browser.py). Installed once, as root or through passwordless sudo; where neither
# works (or apt is missing) this only says so, and those tests skip with the reason.
APT_CHROMIUM := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

browser:
	@if [ -n "$$GANTL_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 \
		|| command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then \
		:; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: no chromium and no apt-get: the browser tests will skip"; \
	else \
		if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
		else echo "note: no chromium, and installing it needs root: the browser tests will skip"; exit 0; fi; \
		echo "installing chromium (apt) for the browser tests"; \
		{ $$sudo env $(APT_CHROMIUM) >/dev/null \
		  || { $$sudo apt-get update -qq && $$sudo env $(APT_CHROMIUM) >/dev/null; }; } \
		|| echo "note: installing chromium failed: the browser tests will skip"; \
	fi

test: setup browser
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
