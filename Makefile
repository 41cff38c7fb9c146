# radiomics-hnc: the two commands a new user needs are `make demo` and `make test`.
# Both call `make setup`, which builds .venv once and reinstalls only when pyproject.toml
# or requirements/constraints.txt change (the stamp file below records that).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.radiomics-hnc-installed
DEMO_DIR ?= demo
JOBS ?= 2

.PHONY: setup browser demo test lint bench docs lock clean-demo

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS) scripts/setup_venv.sh
	PYTHON=$(PYTHON) VENV=$(VENV) CONSTRAINTS=$(CONSTRAINTS) bash scripts/setup_venv.sh
	touch $(STAMP)

demo: setup
	@echo "radiomics-hnc demo: generates a 200-patient synthetic cohort and runs the whole pipeline (about 12 minutes on 2 cores)"
	$(BIN)/radiomics-hnc demo $(DEMO_DIR) --jobs $(JOBS)

# The report's browser test needs chromium: install Debian's package where root or password-less
# sudo allows; elsewhere the script says why not and that test skips.
browser:
	-@bash scripts/ensure_chromium.sh > /dev/null

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m benchmarks --out benchmarks/results

# The CLI reference is generated from the commands' own help, docs/ibsi.md from the IBSI
# benchmark's results (tests check both are current).
docs: setup
	$(BIN)/typer radiomics_hnc.cli utils docs --name radiomics-hnc --title "radiomics-hnc command line reference" --output docs/cli.md
	$(BIN)/python -m benchmarks.ibsi --render

# Rewrite the lock file from the current environment (after a deliberate upgrade).
lock: setup
	{ head -n 3 $(CONSTRAINTS); $(BIN)/pip freeze --exclude-editable | grep -v '^radiomics-hnc' | sed 's/+cpu$$//'; \
	  $(BIN)/pip list --format=freeze | grep -E '^(setuptools|wheel)=='; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

clean-demo:
	rm -rf $(DEMO_DIR)
