# ssc-infra: `make demo` runs the main job on the sample region; `make test` installs and tests.
# Works on a fresh Debian machine as root: system packages come from apt-get, Python packages
# go into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint unit integration system bench clean help

help:
	@echo "make demo   validate and show the sample region (inventory/)"
	@echo "make test   install everything, lint, run all tests"
	@echo "make bench  print the benchmark figures"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python >= 3.11 is needed (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  scripts/install-system.sh python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

system:
	scripts/install-system.sh all

demo: $(STAMP)
	$(BIN)/ssc-infra validate --inventory inventory
	$(BIN)/ssc-infra show --inventory inventory

lint: $(STAMP)
	$(BIN)/ruff check ssc_infra tests bench
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test: $(STAMP) system lint
	$(BIN)/pytest -q tests

bench: $(STAMP)
	$(BIN)/python bench/inventory.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
