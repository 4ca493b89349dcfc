# Sobre: `make run` starts the whole system locally; `make test` runs every check.
# Both install what they need (virtualenv, pip, npm, apt) on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
STAGE ?= local

.PHONY: help install run test lint typecheck unit integration e2e api-key clean

help:
	@echo "make run        start the local stack (AWS emulator + API on :8000)"
	@echo "make test       lint, type-check and run every test"
	@echo "make api-key ACCOUNT=<id> [FROM=<address>]   create an API key"

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NODE_STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy app.py chalicelib infra tools tests

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

integration: install
	$(PY) -m pytest tests/integration -q

test: install lint typecheck
	$(PY) -m pytest -q

run: install
	$(PY) -m infra.run

api-key: $(STAMP)
	@test -n "$(ACCOUNT)" || { echo "usage: make api-key ACCOUNT=<id> [FROM=<address>]"; exit 2; }
	@if [ -z "$$AWS_ENDPOINT_URL" ] && [ -f .sobre/local.env ]; then . ./.sobre/local.env; \
	  echo "Using the local stack at $$AWS_ENDPOINT_URL (.sobre/local.env)" >&2; fi; \
	$(PY) -m tools.admin api-key --account "$(ACCOUNT)" $(if $(FROM),--from "$(FROM)",--default-from billing@example.com)

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .sobre out
