# Everything runs from a local virtualenv that `make` creates on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000
STORE  ?= $(CURDIR)/outputs/mlflow.db

.PHONY: install sweep run test test-fast lint ui server clean
SERVER_PORT ?= 5001

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# MLflow's schema migrations, run once here rather than in the first sweep (fresh_store)
	$(BIN)/python -c "from aesweep.tracking.fresh_store import build_template; build_template()" 2>/dev/null \
		|| echo "note: MLflow's empty store is not cached; the first sweep migrates its own"
	@# Matplotlib's font cache, built once here rather than in the first sweep
	$(BIN)/python -c "import matplotlib.font_manager"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install aesweep with its dev extras

sweep: $(STAMP)  ## the quickstart sweep, logged to outputs/mlflow.db
	$(BIN)/aesweep -m +experiment=quickstart

run: $(STAMP)  ## one job with the defaults
	$(BIN)/aesweep

lint: $(STAMP)
	$(BIN)/ruff check src tests

# The browser tests drive Debian's Chromium: browser builds cannot be downloaded here.
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests (tests/test_ui_browser.py)"
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium >/dev/null

test: lint $(CHROMIUM)  ## lint, then the whole suite (slow end-to-end and browser tests included)
	$(BIN)/pytest -n 2 --dist loadgroup

test-fast: $(STAMP)  ## the suite without the slow end-to-end tests
	$(BIN)/pytest -m "not slow"

.PHONY: bench  # bench/ is a directory: without this, make would call the target up to date
bench: $(STAMP)  ## performance benchmark (~60 min; bench/run.py --quick: a few minutes) -> outputs/bench.json
	$(BIN)/python bench/run.py

# MLflow 3's server imports a Starlette module that warns of its own deprecation: not ours to fix.
ui: $(STAMP)  ## MLflow UI over the embedded store; HOST=0.0.0.0 exposes it to your network
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
	PYTHONWARNINGS="ignore:starlette.middleware.wsgi is deprecated" $(BIN)/mlflow ui \
		--backend-store-uri sqlite:///$(STORE) \
		--host $(HOST) --port $(PORT) --workers 1

server: $(STAMP)  ## team tracking server on $(HOST):$(SERVER_PORT): PostgreSQL, proxied artifacts, basic auth
	$(BIN)/aesweep-server --dir outputs/server --host $(HOST) --port $(SERVER_PORT)

clean:  ## delete every run, the store, checkpoints and caches under outputs/ (not outputs/server)
	rm -rf outputs/runs outputs/multirun outputs/reports outputs/mlflow.db outputs/mlflow.db.lock \
		outputs/mlartifacts outputs/checkpoints outputs/cache
