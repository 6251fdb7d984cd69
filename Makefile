# The README names these targets. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What `make run` needs: the server alone, without the test tools and the [local] extra's GBs.
RUN_STAMP := $(VENV)/.installed-run
# Test processes: many tests wait on servers and workers rather than on the CPU, so a few more
# processes than cores finish sooner; `make test TEST_WORKERS=0` runs them in this process.
TEST_WORKERS ?= 4
# The torch the [local] extra runs on: the CPU build. A GPU host overrides it, e.g.
# `make install TORCH="torch --index-url https://download.pytorch.org/whl/cu124"`.
TORCH ?= torch==2.13.0
# `make run PORT=8080` serves on another port.
PORT ?= 8000
# Bytecode caches on for every command here, even where the environment turns them off
# (PYTHONDONTWRITEBYTECODE=1, as on the development machine): without them each of the
# hundreds of processes a test run starts compiled the sources again, and each test process
# rewrote every test module's asserts again (docs/dependencies.md, "Development").
export PYTHONDONTWRITEBYTECODE :=

.PHONY: install browser terminal run test test-distributed lint fmt typecheck unit bench clean

# torch first, pinned to the CPU wheel, so that the [local] extra's range is already met and pip
# does not fetch the multi-GB CUDA build (docs/local-models.md).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $(STAMP)

install: $(STAMP)

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

## Debian's Chromium for the browser tests (tests/e2e/test_docs_browser.py), installed with apt
## when missing and we are root (CI is); elsewhere those tests skip, except under CI=true.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi
	@[ -x $(CHROMIUM) ] || echo "note: no $(CHROMIUM); install Debian's chromium as root for the browser tests"

## Debian's tmux for the CLI's real-terminal test (tests/client/test_cli.py), the same way.
terminal:
	@if ! command -v tmux >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tmux; \
	fi
	@command -v tmux >/dev/null || echo "note: no tmux; install Debian's tmux as root for the CLI terminal test"

## Install (the server alone; `make install` adds the test tools and local models), then start
## the server (API + workers) on http://127.0.0.1:$(PORT) (default 8000)
run: $(RUN_STAMP)
	$(BIN)/mediastudio serve --port $(PORT)

## Install, then lint, type-check and run every test: the whole suite on the embedded
## deployment, then the API, e2e, webhooks and dashboard suites again on the distributed one
## (skipped with the reason when its services are absent, except under CI=true)
test: $(STAMP) lint typecheck browser terminal
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal
	@if MEDIASTUDIO_TEST_DEPLOYMENT=distributed $(BIN)/python -m tests.deployment \
			|| [ "$$(echo "$$CI" | tr A-Z a-z)" = true ]; then \
		$(MAKE) --no-print-directory test-distributed; \
	else \
		echo "note: the distributed pass is skipped (services missing, above; under CI=true it fails)"; \
	fi

## The API, e2e, webhooks and dashboard suites on the distributed deployment: PostgreSQL, Redis,
## RabbitMQ and S3, `serve --no-workers` beside a `worker` (tests/deployment.py,
## docs/deployment.md). Stops at once, with what is missing, if a service does not answer.
DISTRIBUTED_SUITES := tests/api tests/e2e tests/webhooks tests/dashboard
test-distributed: $(STAMP) browser terminal
	MEDIASTUDIO_TEST_DEPLOYMENT=distributed $(BIN)/python -m tests.deployment
	MEDIASTUDIO_TEST_DEPLOYMENT=distributed $(BIN)/python -m pytest -n $(TEST_WORKERS) \
		--dist worksteal $(DISTRIBUTED_SUITES)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/api_throughput.py

clean:
	rm -rf $(VENV) .mediastudio .pytest_cache .mypy_cache .ruff_cache
