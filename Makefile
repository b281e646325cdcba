# Muster: two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint bench clean emulator witness

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Muster needs Python 3.11 ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)  ## Run Muster on SQLite with the embedded worker and the Google emulator (PORT=, EMULATOR_PORT=)
	$(BIN)/muster demo $(if $(PORT),--port $(PORT)) $(if $(EMULATOR_PORT),--emulator-port $(EMULATOR_PORT))

test: $(STAMP)  ## Run the whole test suite (PostgreSQL and Redis tests skip when absent)
	$(BIN)/pytest -q

witness: $(STAMP)  ## Drive the emulator with gcsa and gcalcli (own virtualenv .venv-witness, built on first use)
	$(BIN)/pytest -q -m witness tests/witness

lint: $(STAMP)  ## ruff, mypy (strict for engine, policies, connectors, admin_ui) and import-linter
	$(BIN)/ruff check engine admin_ui connectors policies tests bench
	$(BIN)/mypy engine policies connectors admin_ui
	$(BIN)/lint-imports

bench: $(STAMP)  ## Print the benchmark figures
	$(BIN)/python bench/emulator.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/twoway.py

emulator: $(STAMP)  ## Run the Google Workspace emulator standalone on port 8765 with the sample seed
	$(BIN)/muster emulator --port 8765 --seed ../shared/data/acme-workspace.json

clean:  ## Remove the virtualenv and local state
	rm -rf $(VENV) .venv-witness var
