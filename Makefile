# ssc-infra: `make demo` runs the main job on the sample region; `make test` installs and tests.
# Works on a fresh Debian machine as root: system packages come from apt-get, Python packages
# go into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every Python package, runtime and dev, pinned with its hashes for Python 3.11 on Linux: an
# install fetches nothing that was not reviewed in a commit. `make lock` regenerates it.
LOCK   := requirements/lock.txt
PIP_TOOLS := pip-tools==7.6.2
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release the bounds allow.
LOCK_FLAGS ?=
# Kept between checkouts, outside the repository: the lab's DC and NetBox templates (the lab
# reads the same variable) and mypy's cache, which a fresh clone then checks in a second.
SSC_CACHE_DIR ?= $(HOME)/.cache/ssc-infra
# The lab DC's loopback address; auto picks a free one (two checkouts never collide).
LAB_ADDRESS ?= auto
# Where the demo reads the inventory: files, or netbox (a lab NetBox the demo fills first).
SOURCE ?= files
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint unit integration system bench clean help lock

help:
	@echo "make demo   the sample region into a local lab (DC + host folders): validate, plan, apply, drift"
	@echo "make test   install everything, lint, run all tests"
	@echo "make bench  print the benchmark figures"
	@echo "make lock   regenerate $(LOCK) after a change to the dependencies in pyproject.toml"

# Hashes for everything (pip and setuptools too): the project itself is installed without its
# dependencies and without build isolation, so nothing comes from the index unchecked.
$(STAMP): pyproject.toml lab/pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python >= 3.11 is needed (set PYTHON=...)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 && $(PYTHON) -c 'import ensurepip' 2>/dev/null || \
	  scripts/install-system.sh python
	$(PYTHON) -m venv $(VENV)
	@# compiled afterwards on every core at once (pip compiles one file after another)
	$(BIN)/pip install --quiet --no-compile --require-hashes -r $(LOCK)
	$(BIN)/python -m compileall -q -j 0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') >/dev/null
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@# the lab (DC, NetBox, Graph emulator; `ssc-infra lab ...`): a distribution of its own
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e lab/
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
	  echo "$(LOCK) does not match pyproject.toml: run make lock"; exit 1; }
	@touch $@

# The lock, made with pip-tools in a throwaway venv by the Python 3.11 the project runs on.
lock:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "the lock is for Python 3.11: run with PYTHON=python3.11"; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(PYTHON) -m venv "$$tmp" && \
	  "$$tmp/bin/pip" install --quiet $(PIP_TOOLS) && \
	  "$$tmp/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
	    --extra dev --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS) \
	    --output-file $(LOCK) pyproject.toml requirements/build.in
	@echo "$(LOCK) regenerated; review the diff, then make clean && make test"

system:
	scripts/install-system.sh all

# The main job on the sample region, on a copy of it (.ssc/demo-inventory, made once: the
# demo changes it, the repository's inventory/ stays as it is): validate, start the lab (DC,
# host folders, the Graph emulator with a tenant per partner, the HR emulator), pull the
# people of the partners whose HR system it emulates, plan, apply the saved plan (AD,
# the cloud partners in Microsoft 365, the hosts), let the lab's Entra Connect copy the hybrid
# partners' accounts; then onboard a new municipality (Harlingen, examples/hr/) into the running
# lab and apply it, and end with a drift check over every backend that must find nothing, and
# its HTML report. Exit code 2 of `plan` and `onboard` means "changes pending".
# `make demo SOURCE=netbox` also starts a lab NetBox, pushes the inventory into it, and plans,
# applies, onboards and checks drift with the inventory read from NetBox (people from the HR
# exports). Run it again and every step finds nothing to do; `rm -r .ssc` starts over.
# Where the demo keeps its state and writes its lab target (the test of the demo's file modes
# runs it elsewhere). What names a person is written 0600 in 0700 folders: the tool does so
# itself, and the demo's own copies and captured output go through `umask 077`.
STATE   ?= .ssc
TARGETS ?= targets.yaml
DEMO := $(STATE)/demo-inventory
RUN_DEMO = $(BIN)/ssc-infra $(1) --inventory $(DEMO) --state-dir $(STATE) --targets $(TARGETS) $(2)
demo: $(STAMP) system
	@umask 077 && mkdir -p $(STATE) && chmod 0700 $(STATE)
	@[ -d $(DEMO) ] || { umask 077 && cp -r inventory $(DEMO) && echo "the demo works on a copy of inventory/: $(DEMO)"; }
	$(call RUN_DEMO,validate)
	$(call RUN_DEMO,show)
	@# with NetBox pushed already (a second run), the lab's tenants follow what NetBox holds
	$(call RUN_DEMO,lab up,--address $(LAB_ADDRESS) $(if $(filter netbox,$(SOURCE)),--with-netbox $(if $(wildcard $(STATE)/demo.netbox.txt),--source netbox)))
	@# People from the partners' HR systems (the lab's HR emulator): Waadhoeke from AFAS Profit,
	@# Vlieland from Visma Raet; a partner whose answer fails or lost people would be held
	$(call RUN_DEMO,hr pull)
ifeq ($(SOURCE),netbox)
	umask 077 && $(call RUN_DEMO,netbox push,--yes) > $(STATE)/demo.netbox.txt || { tail -n 20 $(STATE)/demo.netbox.txt; exit 1; }
	@tail -n 1 $(STATE)/demo.netbox.txt
	$(call RUN_DEMO,validate,--source netbox)
endif
	umask 077 && $(call RUN_DEMO,plan,--source $(SOURCE) --out $(STATE)/demo.plan.json) > $(STATE)/demo.plan.txt || [ $$? -eq 2 ]
	@echo "the full plan is in $(STATE)/demo.plan.txt; its last line:"; tail -n 1 $(STATE)/demo.plan.txt
	@# Four eyes: a second engineer (tvdmeer, a key the demo makes) approves the saved plan
	@[ -f $(STATE)/demo-keys/tvdmeer ] || { umask 077 && mkdir -p $(STATE)/demo-keys && \
	  ssh-keygen -q -t ed25519 -N '' -C 'tvdmeer (demo)' -f $(STATE)/demo-keys/tvdmeer; }
	$(BIN)/ssc-infra lab approver --inventory $(DEMO) --name tvdmeer --key $(STATE)/demo-keys/tvdmeer.pub
	umask 077 && $(BIN)/ssc-infra approve $(STATE)/demo.plan.json --key $(STATE)/demo-keys/tvdmeer --inventory $(DEMO) --state-dir $(STATE) --yes > $(STATE)/demo.approve.txt 2>&1 || { cat $(STATE)/demo.approve.txt; exit 1; }
	@tail -n 1 $(STATE)/demo.approve.txt
	$(call RUN_DEMO,apply,--source $(SOURCE) --yes $(STATE)/demo.plan.json)
	@# Entra Connect of the lab: the hybrid partners' accounts into their tenants (emulator)
	$(call RUN_DEMO,lab entra-sync,--source $(SOURCE))
	@# A new municipality joins (invlechting): onboarded from its AFAS export, then applied
	@if [ -e $(DEMO)/partners/harlingen.yaml ] || [ -e $(DEMO)/people/harlingen.csv ]; then \
	  echo "harlingen is onboarded already"; else \
	  umask 077 && $(BIN)/ssc-infra partner onboard harlingen --inventory $(DEMO) --source $(SOURCE) \
	    --state-dir $(STATE) --targets $(TARGETS) \
	    --name "Gemeente Harlingen" --upn-suffix harlingen.nl --quota 60 \
	    --people examples/hr/harlingen-afas.csv --columns examples/hr/afas.yaml \
	    --sites examples/hr/harlingen-sites.yaml --devices examples/hr/harlingen-devices.csv \
	    --services m365-e3,zaaksysteem-rex,vpn > $(STATE)/demo.onboard.txt || [ $$? -eq 2 ] || \
	    { cat $(STATE)/demo.onboard.txt; exit 1; }; \
	  head -n 2 $(STATE)/demo.onboard.txt; tail -n 2 $(STATE)/demo.onboard.txt; fi
	$(call RUN_DEMO,apply,--source $(SOURCE) --partner harlingen --yes)
	@# the new partner's tenant in the Graph emulator, and its accounts synchronised there
	$(call RUN_DEMO,lab up,--source $(SOURCE) --address $(LAB_ADDRESS) $(if $(filter netbox,$(SOURCE)),--with-netbox))
	$(call RUN_DEMO,lab entra-sync,--source $(SOURCE))
	$(call RUN_DEMO,drift,--source $(SOURCE) --compact --report $(STATE)/drift-report)
	@# An access review for one partner's manager: its page and the sheet to fill in
	umask 077 && $(call RUN_DEMO,review start,--source $(SOURCE) --partner waadhoeke --out $(STATE)/reviews)
	@echo "initial passwords: $(STATE)/credentials/ (0600); audit log: $(STATE)/audit.jsonl;" \
	  "the workplace hosts' files: $(STATE)/lab/hosts/; stop the lab with: $(BIN)/ssc-infra lab down --state-dir $(STATE)"
	@echo "the drift report (HTML): $(abspath $(STATE))/drift-report/latest.html"
	@echo "the access review of waadhoeke (HTML, and the sheet beside it): $$(ls -t $(abspath $(STATE))/reviews/waadhoeke-*.html | head -n 1)"
	@echo "the audit log's chain: $$($(BIN)/ssc-infra history --verify --state-dir $(STATE))"

lint: $(STAMP)
	$(BIN)/ruff check ssc_infra lab tests bench inventory playbooks playbooks/files/ssc-check
	$(BIN)/mypy --cache-dir $(SSC_CACHE_DIR)/mypy
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/ansible-lint -q --offline playbooks/

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

# The tests in TEST_WORKERS processes (pytest-xdist), a test file per process at a time (its
# module's fixtures stay whole), the files that use NetBox all in one process (tests/conftest.py
# groups them); each process starts its own DC (and NetBox) on free addresses.
# PYTEST_ARGS adds to it, e.g. make test PYTEST_ARGS=--durations=40 for the slowest tests.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
test: $(STAMP) system lint
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS) tests

bench: $(STAMP) system
	$(BIN)/python bench/inventory.py
	$(BIN)/python -W ignore bench/ad_apply.py
	$(BIN)/python bench/hosts_apply.py
	$(BIN)/python -W ignore bench/plan_nochange.py
	$(BIN)/python -W ignore bench/apply_ceiling.py
	$(BIN)/python -W ignore bench/netbox.py
	$(BIN)/python -W ignore bench/graph.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
