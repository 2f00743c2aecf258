# One task runner for people and CI: `make demo`, `make test`, `make lint`,
# `make typecheck`, `make wheel-check`, `make bench`. Everything installs into .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test pytest lint typecheck wheel-check system-deps bench clean

$(STAMP): setup.cfg pyproject.toml examples/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' -r examples/requirements.txt
	touch $(STAMP)

# The main job: start the daemon, run training_pipeline of the example project,
# print its outcome and accuracy.
demo: $(STAMP)
	cd examples && ../$(BIN)/uniflow run training_pipeline --wait

# Everything CI checks: lint, types, the wheel, then the test suite.
test: lint typecheck wheel-check pytest

pytest: $(STAMP) system-deps
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

wheel-check: $(STAMP)
	scripts/wheel-check $(BIN)/python

system-deps:
	scripts/system-deps

# Every benchmark, with its table of figures; see bench/.
bench: $(STAMP)
	scripts/system-deps wrk
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build dist *.egg-info
