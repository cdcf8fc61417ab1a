# The set-up commands of README.md. Each creates .venv on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= shin-tomei
DAYS ?= 1
# The other Pythons `make test` installs the project into (.venv-3.12, .venv-3.13) for a smoke
# run; `make test EXTRA_PYTHONS=` skips them. PYTHON_3.12=/path/to/python3.12 names one.
EXTRA_PYTHONS ?= 3.12 3.13
# Fast tests that run on every extra Python, against the installed wheel: the public API, the
# twin's stored reference figures (numba), the scenarios, the LP against a dense formulation
# (HiGHS, SciPy), the package's licence and citation.
SMOKE_TESTS ?= tests/test_public_api.py tests/test_reference.py tests/test_scenario.py \
	tests/test_optimize.py::test_lp_agrees_with_an_independent_dense_formulation \
	tests/test_docs.py::test_citation_and_license_agree_with_the_package
LINTED := src tests benchmarks examples docs_hooks.py docs/tutorial.py

.PHONY: demo test lint typecheck pytest bench clean browser evm docs smoke

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
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q
	@$(MAKE) --no-print-directory docs
	@$(MAKE) --no-print-directory smoke

# The documentation site, into site/: offline (no page loads anything from the network), and
# strict (a broken link, anchor or API reference fails the build). The scenario reference and the tutorial page are rendered from
# their sources as it builds (docs_hooks.py).
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@if grep -rlE '<(script|link|img)[^>]+(src|href)="(https?:)?//' site --include='*.html'; then \
		echo "make docs: the pages above load from the network; the site must work offline" >&2; \
		exit 1; fi

# ---- the other Pythons -----------------------------------------------------------------------
# An interpreter of version $(1): PYTHON_<version> if set, else python<version> on PATH if it
# runs, else one that pyenv installed.
python_of = $(or $(PYTHON_$(1)),$(firstword $(foreach c,python$(1) \
	$(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)),$(if $(shell $(c) -c '' \
	2>/dev/null && echo ok),$(c)))))
SOURCES := $(shell find src/ersgrid -type f -not -path '*/__pycache__/*')

EXTRA_VENVS := $(addprefix .venv-,$(EXTRA_PYTHONS))
SMOKES := $(addprefix smoke-,$(EXTRA_PYTHONS))
.PHONY: $(SMOKES)

smoke: $(SMOKES)

ifneq ($(strip $(EXTRA_PYTHONS)),)
$(addsuffix /bin/python,$(EXTRA_VENVS)): .venv-%/bin/python:
	@py="$(call python_of,$*)"; if [ -z "$$py" ]; then \
		echo "no python$* found: install it, set PYTHON_$*=/path/to/python$*," \
			"or leave it out with EXTRA_PYTHONS=" >&2; exit 2; fi; \
	echo "$$py -m venv .venv-$*"; $$py -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --upgrade pip

# The project is installed from its wheel (not editable), so the smoke run also checks what
# the package ships. Its dependencies install again only when pyproject.toml changes (stamp
# .installed-deps); otherwise a change of the sources reinstalls the project alone.
$(addsuffix /.installed,$(EXTRA_VENVS)): .venv-%/.installed: pyproject.toml $(SOURCES) \
		| .venv-%/bin/python
	@rm -rf build
	@if [ ! -e $(@D)/.installed-deps ] || [ pyproject.toml -nt $(@D)/.installed-deps ]; then \
		echo '.venv-$*/bin/pip install -q ".[all,test]"'; \
		.venv-$*/bin/pip install -q ".[all,test]" && touch $(@D)/.installed-deps; \
	else \
		echo ".venv-$*/bin/pip install -q --no-deps --force-reinstall ."; \
		.venv-$*/bin/pip install -q --no-deps --force-reinstall .; \
	fi
	@touch $@

# make demo's command on each extra Python, then a few fast tests against the installed wheel.
# They run again when the installed project or the tests change (stamp results/smoke-*.ok).
SMOKE_TEST_FILES := tests/conftest.py $(sort $(foreach t,$(SMOKE_TESTS),$(firstword $(subst ::, ,$(t)))))

results/smoke-%.ok: .venv-%/.installed $(SMOKE_TEST_FILES)
	@mkdir -p results && rm -f $@
	@echo ".venv-$*/bin/ersgrid run $(SCENARIO) --strategy uncontrolled --days $(DAYS)" \
		"--out results/smoke-$*"
	@.venv-$*/bin/ersgrid run $(SCENARIO) --strategy uncontrolled --days $(DAYS) \
		--out results/smoke-$* > results/smoke-$*.log 2>&1 || { cat results/smoke-$*.log; exit 1; }
	.venv-$*/bin/python -m pytest -q -p no:cacheprovider $(SMOKE_TESTS)
	@touch $@

$(SMOKES): smoke-%: results/smoke-%.ok
	@echo "Python $*: make demo's command and the smoke tests pass on these sources" \
		"(results/smoke-$*.log)"
endif

bench: $(VENV)/.installed-dev
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(EXTRA_VENVS) results site build .mypy_cache \
		.pytest_cache .ruff_cache
