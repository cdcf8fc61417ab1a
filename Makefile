# The two set-up commands of README.md. Each creates .venv on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= shin-tomei
DAYS ?= 1

.PHONY: demo test lint typecheck pytest bench clean browser evm

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[all]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed-run

demo: $(VENV)/.installed-run
	$(BIN)/ersgrid run $(SCENARIO) --strategy uncontrolled --days $(DAYS) --out results/$(SCENARIO)

# The dashboard test drives Debian's Chromium (no browser download by playwright).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq chromium chromium-driver; }

# The ledger's external-chain tests run a Hardhat node (tools/evm, locked in its
# package-lock.json, installed from the npm registry); without npm they are skipped.
evm:
	@if [ ! -d tools/evm/node_modules ]; then \
		if command -v npm >/dev/null 2>&1; then \
			cd tools/evm && npm ci --no-audit --no-fund; \
		else echo "npm not found: the ledger's external-chain tests will be skipped"; fi; \
	fi

test: $(VENV)/.installed-dev browser evm
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

bench: $(VENV)/.installed-dev
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) results .mypy_cache .pytest_cache .ruff_cache
