# The doors into the project. Every target bootstraps what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint manage stop lock venv services-test browsers load

ASSETS := node_modules/.package-lock.json

venv: $(STAMP) $(ASSETS)
# Development installs both locks: requirements-dev.txt is the runtime lock plus the tools (tests,
# lint, benchmarks); the production image installs requirements.txt alone.
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-virtualenv -r requirements.txt -r requirements-dev.txt
	@touch $(STAMP)

# Browser assets (the charts' Plotly bundle) come from npm, pinned by package-lock.json.
$(ASSETS): package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq --no-install-recommends npm >/dev/null; } \
		|| { echo "npm is needed for the chart bundle: apt-get install npm" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $(ASSETS)

## make run: PostgreSQL + Redis (project-local), migrations, demo data, web + worker + beat.
run: venv
	@scripts/run.sh

## make test: the whole suite against real PostgreSQL, Redis, Celery worker and Chromium: the fast lane
## in two xdist processes and, beside it on services of its own, the slow lane in two more (see README
## "Tests"); ARGS with a path runs just that.
test: venv
	@scripts/test.sh $(ARGS)

## make bench: benchmarks; prints a table and writes bench/results/latest.json.
bench: venv
	@scripts/bench.sh $(ARGS)

## make lint: ruff (style, security and the complexity budget), then the import-linter contracts of
## pyproject.toml (the layers of docs/architecture.md). Both read their settings from pyproject.toml.
lint: venv
	$(BIN)/ruff check .
	PYTHONPATH=. $(BIN)/lint-imports

## make load: a bounded load test (locust, loopback) of the production stack; writes bench/results/load.json.
## LOAD_SECONDS (180) and LOAD_USERS (12) bound it; it fails on any error. See docs/BENCHMARKS.md, "Load".
load: venv
	@scripts/load.sh


## make manage ARGS="…": a management command against the stack of `make run`.
manage: venv
	@set -a; eval "$$(scripts/services.sh env run)"; set +a; \
	PORTAL_PROFILE=$${PORTAL_PROFILE:-dev} $(BIN)/python manage.py $(ARGS)

stop:
	scripts/services.sh stop run
	scripts/services.sh stop test

## make lock: re-pin the runtime lock, then the dev lock (constrained to the runtime pins).
LOCK := $(BIN)/pip-compile --quiet --strip-extras --no-annotate --no-emit-index-url --no-emit-find-links
lock: venv
	$(LOCK) --output-file requirements.txt requirements.in
	$(LOCK) --output-file requirements-dev.txt requirements-dev.in
