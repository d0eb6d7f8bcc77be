# customer-stream: randomuser.me -> Pub/Sub -> Beam -> BigQuery.  `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
# make run knobs
N      ?= 500
SOURCE ?= fake
KEEP   ?= 0

##@ Local

help: ## List every target with its description
	@awk 'BEGIN {FS = ":.*## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "  Variables: N=$(N) SOURCE=$(SOURCE) KEEP=$(KEEP) (make run), PROJECT, REGION (cloud targets)"

venv: $(VENV)/.installed ## Create or update the project virtualenv .venv from the lock file

$(VENV)/.installed: requirements/dev.txt pyproject.toml
	@scripts/venv.sh "$(PYTHON)" "$(VENV)"
	@touch $@

run: venv ## Run the whole flow locally on emulators (N=500 SOURCE=fake|randomuser|file KEEP=1)
	@$(PY) -m localrun --count "$(N)" --source "$(SOURCE)" $(if $(filter 1 yes true,$(KEEP)),--keep)

test: venv ## Run every test tier (unit, integration, e2e, container, static); CI runs exactly this
	@scripts/test.sh

test-unit: venv ## Unit tests only (no services)
	@$(PY) -m pytest -m unit

test-integration: venv ## Integration and end-to-end tests on the real emulators
	@$(PY) -m pytest -m "integration or e2e"

test-container: venv ## Container tests: real docker build / docker run of both images
	@$(PY) -m pytest -m container

test-static: venv ## Static checks: ruff, yamllint, hadolint, terraform fmt, checkov
	@$(PY) -m pytest -m static

lint: venv ## ruff check and format check on all Python
	@$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: venv ## Apply ruff's fixes and formatting
	@$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

bench: venv ## Producer publish benchmark against the Pub/Sub emulator (bench/README.md)
	@$(PY) bench/publish_bench.py

lock: venv ## Re-resolve requirements/*.txt from requirements/*.in
	@scripts/lock.sh "$(VENV)"

clean: ## Remove the virtualenvs, caches and local run state
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .hypothesis .run build dist *.egg-info

.PHONY: help venv run test test-unit test-integration test-container test-static lint format bench lock clean
