# txmon — every command a newcomer needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install up down status demo test unit lint bench console schema clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create the venv, install txmon, resolve the Kafka jars, install redis-server
	bash deploy/services.sh install

up: install ## start Kafka (KRaft) and Redis on 127.0.0.1 and create txmon's topics
	bash deploy/services.sh up
	$(BIN)/txmon topics >/dev/null

down: ## stop exactly what `make up` started
	bash deploy/services.sh down

status: ## show whether Kafka and Redis are up
	bash deploy/services.sh status

demo: install ## generated bank traffic with fraud scenarios through a real worker; stops what it started
	$(BIN)/python -m loadtest.demo

test: install ## the whole suite: unit tests and integration tests on real Kafka and Redis
	$(BIN)/python -m pytest

unit: $(STAMP) ## unit tests only (no services)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check streams rules alerts loadtest tests
	$(BIN)/mypy

bench: install ## throughput and latency against side-by-side baselines; writes loadtest/results/latest.json
	$(BIN)/python -m loadtest.bench

schema: $(STAMP) ## regenerate the event JSON Schema
	$(BIN)/txmon schema --out streams/schema/event.schema.json

clean: down ## stop services and remove run data (keeps the jar cache)
	rm -rf .run
