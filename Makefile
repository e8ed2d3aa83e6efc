# Two commands on a fresh machine: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Serving needs only the service's own dependencies; tests and linters add the dev extra.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: run demo test lint typecheck openapi migrate bench bench-quick install clean check

# (Re)install whenever pyproject.toml changes; the stamps make repeat runs instant.
$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(RUN_STAMP)  ## migrate the database (SQLite file by default) and serve on :8000
	$(BIN)/qualityapi serve

demo: $(RUN_STAMP)  ## load a month of sample data into the configured database (run `make run` too)
	$(BIN)/qualityapi demo

migrate: $(RUN_STAMP)
	$(BIN)/qualityapi migrate

# Two worker processes, a test file each at a time: each worker starts its own PostgreSQL,
# and a file's tests share their module fixtures (the browser, real servers). Serial, the
# suite takes ~14 min on 2 cores; in two workers ~9. TEST_WORKERS=0 runs it serially.
TEST_WORKERS ?= 2

test: $(STAMP)  ## the whole suite: SQLite and a real PostgreSQL started by the tests
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

openapi: $(STAMP)  ## regenerate the committed OpenAPI document
	$(BIN)/qualityapi openapi --output openapi/openapi.json

bench: $(STAMP)  ## work-order throughput against baselines, SQLite and PostgreSQL
	$(BIN)/python -m bench.bench_work_orders --db both

bench-quick: $(STAMP)  ## the hot paths' regression guard: short runs next to bench/BASELINE.md
	$(BIN)/python -m bench.quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
