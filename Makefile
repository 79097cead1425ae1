# shiptrack — every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3.11
VENV        := .venv
BIN         := $(VENV)/bin
TOOLS       := $(CURDIR)/.tools
RUNTIME     := .local/runtime
LAYER_LOCK  := layers/shared/requirements.txt
SAM         := $(TOOLS)/bin/sam
SAM_VERSION := 1.170.0
UV_VERSION  := 0.13.8
PYTEST_ARGS ?= -n auto --durations=25

# SAM and cfn-lint need a region, never credentials; nothing here talks to AWS.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export PYTHONDONTWRITEBYTECODE := 1
export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)

.PHONY: help install runtime lock dev test lint fmt typecheck pytest unit integration e2e cfn-lint sam-validate build openapi bench deploy clean

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

# The virtual environment is rebuilt whenever the lock file changes. The SAM CLI lives in .tools/
# as a uv tool, outside the app's venv: it pins an older boto3 and pulls awscrt (docs/local-stack.md).
# The local stack and the tests run the SAM transform (aws-sam-translator) in that environment too.
$(BIN)/.installed: requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements-dev.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .  # the `shiptrack` CLI (docs/cli.md)
	touch $@

$(SAM):
	@test -x $(BIN)/uv || $(MAKE) $(BIN)/.installed
	UV_TOOL_DIR=$(TOOLS)/uv UV_TOOL_BIN_DIR=$(TOOLS)/bin $(BIN)/uv tool install -q --python $(PYTHON) aws-sam-cli==$(SAM_VERSION)

install: $(BIN)/.installed $(SAM) ## create .venv from the lock file and install the SAM CLI as a tool

# The functions' own environment (local/runtime.py): the layer's hashed lock plus the Lambda runtime's boto3, nothing
# from the dev venv. Rebuilt whenever either lock changes; the local stack's workers run on it (docs/deploy.md).
$(RUNTIME)/.installed: $(LAYER_LOCK) requirements-dev.lock | $(BIN)/.installed
	$(BIN)/python -m local.runtime
	touch $@

runtime: $(RUNTIME)/.installed ## build .local/runtime, the functions' environment (the layer's lock + runtime boto3)

# Re-pin on purpose only (never as a side effect of a newer pyproject.toml: a fresh clone's mtimes are arbitrary).
# The layer's lock takes the dev lock's versions (one resolution), with the hashes of every wheel of each version
# (Lambda's arm64 and this machine's x86_64 alike), for the layer's arm64. botocore and what only it needs come
# with the Lambda runtime: they are resolved but not shipped (docs/deploy.md).
lock: $(BIN)/.installed ## re-resolve requirements-dev.lock and the layer's hashed lock after changing a pin
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --extra cli --python-version 3.11 --no-header -o requirements-dev.lock
	$(BIN)/uv pip compile -q layers/shared/requirements.in --constraint requirements-dev.lock --generate-hashes \
		--python-version 3.11 --python-platform aarch64-manylinux2014 --custom-compile-command "make lock" -o $(LAYER_LOCK) \
		--no-emit-package botocore --no-emit-package python-dateutil --no-emit-package six

dev: $(BIN)/.installed $(RUNTIME)/.installed $(SAM) ## run the whole stack on this machine (moto, sandbox, API on :3000, invoke API on :3001)
	$(BIN)/python -m local.stack

test: install runtime lint typecheck pytest cfn-lint sam-validate build ## everything CI runs: lint, types, tests, template checks, sam build

lint: $(BIN)/.installed ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(BIN)/.installed ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(BIN)/.installed ## mypy (strict on layers/shared)
	$(BIN)/mypy layers/shared cli local tests bench $(wildcard functions/*/*.py)

pytest: $(BIN)/.installed $(RUNTIME)/.installed $(SAM) ## the whole test suite
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(BIN)/.installed $(SAM) ## unit tests only
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

integration: $(BIN)/.installed $(SAM) ## integration tests (handlers on moto against the sandbox)
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

e2e: $(BIN)/.installed $(RUNTIME)/.installed $(SAM) ## end-to-end tests through the local stack over HTTP
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

cfn-lint: $(BIN)/.installed ## lint template.yaml
	$(BIN)/cfn-lint template.yaml

sam-validate: $(SAM) ## sam validate --lint
	$(SAM) validate --lint

# Lambda's filesystem is read-only, so modules shipped without .pyc are compiled on every cold start
# (docs/benchmarks.md: 2.96x boto3 without, 1.51x with). unchecked-hash: the zip's mtimes do not matter.
# The function folders are a shell glob: make expands the recipe before sam build has made them.
build: $(SAM) ## sam build (needs python3.11 on PATH), then precompile the bytecode
	$(SAM) build --cached --parallel
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
		.aws-sam/build/SharedLayer/python .aws-sam/build/*Function

openapi: $(BIN)/.installed ## regenerate docs/openapi.json and docs/api.md from the routers (after any route change)
	$(BIN)/python -m shiptrack.openapi > docs/openapi.json
	$(BIN)/python -m shiptrack.openapi --markdown > docs/api.md

bench: $(BIN)/.installed $(RUNTIME)/.installed $(SAM) ## run the benchmarks and write docs/benchmarks.md
	$(BIN)/python -m bench

deploy: build ## deploy to AWS (first time: sam deploy --guided)
	$(SAM) deploy

clean: ## remove build output and caches (keeps .venv, .tools and .local)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
