# fertk: `make demo` runs the main job on a real face video, `make test` runs the tests.
# Both create .venv from scratch when it is missing and install the pinned dependencies.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
STAMP  := $(VENV)/.fertk-installed
PLUGINS := plugins/fertk-example plugins/fertk-mediapipe plugins/fertk-insightface
PYTEST_ARGS ?=

.PHONY: setup test test-all demo lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.txt requirements-nodeps.txt $(wildcard plugins/*/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements.txt
	$(PIP) install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PIP) install -q --disable-pip-version-check -c requirements.txt -e '.[dev]'
	@for p in $(PLUGINS); do \
	  if [ -f $$p/pyproject.toml ]; then \
	    echo "installing $$p"; \
	    $(PIP) install -q --disable-pip-version-check --no-deps -e $$p || exit 1; \
	  fi; \
	done
	@touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=20 -m "not extended" $(PYTEST_ARGS)

# everything, including the slower variants of claims that `make test` guards with faster tests
test-all: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=20 $(PYTEST_ARGS)

demo: setup
	$(BIN)/fertk run examples/media/pexels_wolfgang_langer.mp4 --out demo-output
	@echo "demo outputs written to demo-output/"

lint: setup
	$(BIN)/ruff check fertk plugins tests benchmarks examples tools

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
