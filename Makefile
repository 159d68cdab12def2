# Two commands on a fresh Debian/Ubuntu machine: `make up`, `make test`.
# Everything else here is what those two need, installed only when missing.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.9.5
UV := .tools/bin/uv
VENV := .venv
CLOUDOS := $(VENV)/bin/cloudos
export UV_PYTHON_DOWNLOADS := never
CODE := $(wildcard src tests bench scripts)

.PHONY: up down test check lint format images doctor bench clean

## up: install what is missing, start the cloud, print its URL
up: $(VENV)/.runtime
	bash scripts/ensure-engine.sh
	$(CLOUDOS) up

## down: stop the cloud, keep all data
down: $(VENV)/.runtime
	$(CLOUDOS) down

## test: install test dependencies and services, run linters and the whole suite
test: $(VENV)/.dev
	bash scripts/ensure-engine.sh
	bash scripts/ensure-test-services.sh
	$(MAKE) --no-print-directory check
	$(VENV)/bin/pytest -m "not disruptive" $(PYTEST_ARGS)
	@# Then what restarts the engine the others share (exit 5: none selected by PYTEST_ARGS).
	$(VENV)/bin/pytest -m disruptive $(PYTEST_ARGS) || [ $$? -eq 5 ]

## check: formatting, lint, types, import layering
check: $(VENV)/.dev
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: $(VENV)/.dev
	$(VENV)/bin/ruff format $(CODE)
	$(VENV)/bin/ruff check --fix $(CODE)

images: $(VENV)/.runtime
	bash scripts/ensure-engine.sh
	$(CLOUDOS) images build

doctor: $(VENV)/.runtime
	$(CLOUDOS) doctor

$(UV):
	bash scripts/ensure-python.sh
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# --inexact: `make up` in a development checkout must not strip the test tools.
$(VENV)/.runtime: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --no-dev --inexact
	touch $@

$(VENV)/.dev: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen
	touch $@ $(VENV)/.runtime

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache test-artifacts
