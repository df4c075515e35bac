# ssc-infra: `make demo` runs the main job on the sample region; `make test` installs and tests.
# Works on a fresh Debian machine as root: system packages come from apt-get, Python packages
# go into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The lab DC's loopback address; auto picks a free one (two checkouts never collide).
LAB_ADDRESS ?= auto
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint unit integration system bench clean help

help:
	@echo "make demo   the sample region into a local lab (DC + host folders): validate, plan, apply, drift"
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

# The main job on the sample region: validate, start the lab DC, plan, apply the saved plan,
# then a drift check that must find nothing. Exit code 2 of `plan` means "changes pending".
demo: $(STAMP) system
	$(BIN)/ssc-infra validate
	$(BIN)/ssc-infra show
	$(BIN)/ssc-infra lab up --address $(LAB_ADDRESS)
	@mkdir -p .ssc
	$(BIN)/ssc-infra plan --out .ssc/demo.plan.json > .ssc/demo.plan.txt || [ $$? -eq 2 ]
	@echo "the full plan is in .ssc/demo.plan.txt; its last line:"; tail -n 1 .ssc/demo.plan.txt
	$(BIN)/ssc-infra apply --yes .ssc/demo.plan.json
	$(BIN)/ssc-infra drift
	@echo "initial passwords: .ssc/credentials/ (0600); audit log: .ssc/audit.jsonl;" \
	  "drift reports: .ssc/reports/; the workplace hosts' files: .ssc/lab/hosts/;" \
	  "stop the lab with: $(BIN)/ssc-infra lab down"

lint: $(STAMP)
	$(BIN)/ruff check ssc_infra tests bench inventory playbooks/library playbooks/files/ssc-check
	$(BIN)/mypy
	$(BIN)/ansible-lint -q --offline playbooks/

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test: $(STAMP) system lint
	$(BIN)/pytest -q tests

bench: $(STAMP) system
	$(BIN)/python bench/inventory.py
	$(BIN)/python -W ignore bench/ad_apply.py
	$(BIN)/python bench/hosts_apply.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
