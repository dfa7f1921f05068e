# txmon — every command a newcomer needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lock up down status demo test unit lint bench bench-redis console ops dashboard schema clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock deploy/python/install.sh
	PYTHON=$(PYTHON) bash deploy/python/install.sh $(VENV)
	@touch $(STAMP)

install: $(STAMP) ## create the venv, install txmon, the Kafka jars, redis-server, chromium, prometheus and helm
	bash deploy/services.sh install
	bash deploy/browser.sh
	bash deploy/ops-tools.sh install

lock: ## re-resolve requirements.lock from pyproject.toml (UPGRADE=1: newest allowed versions)
	PYTHON=$(PYTHON) UPGRADE=$(UPGRADE) bash deploy/python/lock.sh

up: install ## start Kafka (KRaft), Redis and PostgreSQL on 127.0.0.1 and create txmon's topics
	bash deploy/services.sh up
	$(BIN)/txmon topics >/dev/null

down: ## stop exactly what `make up` started
	bash deploy/services.sh down

status: ## show whether Kafka, Redis and PostgreSQL are up
	bash deploy/services.sh status

demo: install ## generated bank traffic with fraud scenarios through a real worker; stops what it started
	$(BIN)/python -m loadtest.demo

test: install ## the whole suite: unit tests and integration tests on real Kafka and Redis
	$(BIN)/python -m pytest

unit: $(STAMP) ## unit tests only (no services)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check streams rules alerts store loadtest ops tests
	$(BIN)/mypy

bench: install ## throughput and latency against side-by-side baselines; writes loadtest/results/latest.json
	$(BIN)/python -m loadtest.bench

bench-redis: install ## one worker's events/s on one Redis and on a Redis Cluster; keys per master
	$(BIN)/python -m loadtest.redis_cluster_bench

CONSOLE_PORT ?= 8080
CONSOLE_WORKER_PORT ?= 6068
CONSOLE_RATE ?= 25
console: install ## services, a worker, the officers' console, its case store and demo traffic; Ctrl-C stops what it started
	@set -euo pipefail; pids=(); started=""; \
	finish() { trap - EXIT INT TERM; \
	  for p in "$${pids[@]}"; do kill -TERM "$$p" 2>/dev/null || true; done; \
	  for p in "$${pids[@]}"; do wait "$$p" 2>/dev/null || true; done; \
	  if [[ -n "$$started" ]]; then bash deploy/services.sh down; fi; \
	  echo "[console] stopped the worker, the console, the case sink and the traffic$${started:+, and the services}"; }; \
	trap finish EXIT; trap 'exit 130' INT TERM; \
	if ! bash deploy/services.sh status >/dev/null 2>&1; then bash deploy/services.sh up; started=1; fi; \
	ns="console$$(date +%H%M%S)"; \
	export TXMON_APP_ID="txmon-$$ns" TXMON_CONSUMER_GROUP="$$ns-monitor" TXMON_STATE_PREFIX="$$ns:" \
	  TXMON_INPUT_TOPIC="$$ns.events" TXMON_ALERTS_TOPIC="$$ns.alerts.bank" TXMON_POLICE_TOPIC="$$ns.alerts.police" \
	  TXMON_HOLDS_TOPIC="$$ns.holds" TXMON_DEAD_LETTER_TOPIC="$$ns.events.dlq" TXMON_AUDIT_TOPIC="$$ns.audit" \
	  TXMON_SUSPICIOUS_TOPIC="$$ns.suspicious" TXMON_RULES_TOPIC="$$ns.rules" TXMON_BANK_CODE=DEMOBANK \
	  TXMON_WEB_PORT=$(CONSOLE_WORKER_PORT) TXMON_CONSOLE_PORT=$(CONSOLE_PORT) \
	  TXMON_MAX_EVENT_AGE_S=315360000 TXMON_MAX_EVENT_FUTURE_S=315360000 TXMON_CASES_GROUP="$$ns-cases" \
	  TXMON_POSTGRES_URL="postgresql://txmon@127.0.0.1:$${TXMON_POSTGRES_PORT:-5432}/txmon_console"; \
	mkdir -p .run; \
	pg="postgresql://txmon@127.0.0.1:$${TXMON_POSTGRES_PORT:-5432}/postgres"; \
	$(BIN)/python -c 'import psycopg, sys; c = psycopg.connect(sys.argv[1], autocommit=True); [c.execute(f"{s} txmon_console") for s in ("DROP DATABASE IF EXISTS", "CREATE DATABASE")]' "$$pg"; \
	$(BIN)/txmon topics >.run/console-setup.log 2>&1; \
	$(BIN)/txmon suspicious load loadtest/suspicious_demo.csv --by demo >>.run/console-setup.log 2>&1; \
	password="demo-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(9))')"; \
	for role in officer supervisor police; do \
	  printf '%s\n' "$$password" | $(BIN)/txmon create-user "demo-$$role" --role $$role --password-stdin --replace \
	    >/dev/null 2>>.run/console-setup.log; \
	done; \
	totp="$$(sed -n 's/^totp secret: //p' .run/console-setup.log | tail -1)"; \
	$(BIN)/txmon worker --quiet >.run/console-worker.log 2>&1 & pids+=($$!); \
	$(BIN)/txmon console >.run/console.log 2>&1 & pids+=($$!); \
	$(BIN)/txmon cases >.run/console-cases.log 2>&1 & pids+=($$!); \
	for _ in $$(seq 240); do \
	  if $(BIN)/python -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=1)' \
	    "http://127.0.0.1:$(CONSOLE_PORT)/health" 2>/dev/null; then break; fi; \
	  kill -0 "$${pids[1]}" 2>/dev/null || { echo "[console] the console exited; see .run/console.log"; exit 1; }; \
	  sleep 0.5; \
	done; \
	: "the generator's simulated clock runs from a fixed date and ahead of ours: event-time bounds opened"; \
	$(BIN)/python -m loadtest.send --topic "$$TXMON_INPUT_TOPIC" --events 100000000 --rate $(CONSOLE_RATE) \
	  --scenario-every 100 --malformed-every 100000000 --seed "$$RANDOM" >.run/console-traffic.log 2>&1 & pids+=($$!); \
	echo ""; \
	echo "  txmon console:  http://127.0.0.1:$(CONSOLE_PORT)"; \
	echo "  log in as demo-officer, demo-supervisor or demo-police, password: $$password"; \
	echo "  demo-supervisor also types a TOTP code: add secret $$totp to an authenticator app"; \
	echo "  demo traffic:   $(CONSOLE_RATE) events/s with fraud scenarios into $$TXMON_INPUT_TOPIC"; \
	echo "  logs:           .run/console.log  .run/console-worker.log  .run/console-cases.log  .run/console-traffic.log"; \
	echo "  Ctrl-C stops the worker, the console, the case-store sink and the traffic$${started:+, and the services}."; \
	echo ""; \
	trap 'stopping=1' INT TERM; \
	wait -n "$${pids[@]}" || true; \
	if [[ -z "$${stopping:-}" ]]; then echo "[console] a process exited early; see the logs in .run/"; exit 1; fi

OPS_CONSOLE_PORT ?= 8080
OPS_WORKER_PORT ?= 6068
OPS_PROMETHEUS_PORT ?= 9090
OPS_RATE ?= 25
ops: install ## services, a worker, the console, traffic with scenarios and Prometheus with the alerting rules; Ctrl-C stops what it started
	$(BIN)/python -m ops --console-port $(OPS_CONSOLE_PORT) --worker-port $(OPS_WORKER_PORT) \
	  --prometheus-port $(OPS_PROMETHEUS_PORT) --rate $(OPS_RATE)

dashboard: $(STAMP) ## regenerate deploy/grafana/txmon.json and the Helm chart's settings list
	$(BIN)/python -m ops.dashboard
	$(BIN)/python -m ops.chart

schema: $(STAMP) ## regenerate the event JSON Schema
	$(BIN)/txmon schema --out streams/schema/event.schema.json

clean: down ## stop services and remove run data (keeps the jar cache)
	rm -rf .run
