# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: timed demo test unit integration lint bench kafka-up kafka-down clean venv chaos

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "handoff needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

demo: venv
	deploy/scripts/ensure-system.sh
	$(BIN)/handoff demo

# Two pytest workers, each with its own broker and PostgreSQL (the session fixtures), a
# test file at a time: the integration tests mostly wait on brokers and processes, and one
# broker holding every test's topics slows down as the suite goes on. Kafka's jars are
# fetched once first, so the two workers never download them at the same time. The few
# tests that assert an issue's time bound (an answer within 1 s, a takeover within 15 s)
# run after the rest, alone: on 2 shared cores a neighbour's CPU would decide them.
test: venv
	deploy/scripts/ensure-system.sh --with-postgres
	$(BIN)/python -c 'from services.local.kafka import ensure_jars; ensure_jars()'
	$(BIN)/pytest -n 2 --dist loadfile --durations=25 -m 'not timed'
	$(BIN)/pytest -m timed

# Only the tests that assert a time bound, alone.
timed: venv
	deploy/scripts/ensure-system.sh --with-postgres
	$(BIN)/pytest -m timed

unit: venv
	$(BIN)/pytest tests/unit

integration: venv
	deploy/scripts/ensure-system.sh --with-postgres
	$(BIN)/pytest tests/integration

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: venv
	deploy/scripts/ensure-system.sh
	$(BIN)/python -m bench.rule_matching
	$(BIN)/python -m bench.router_throughput
	$(BIN)/python -m bench.ingest_throughput
	$(BIN)/python -m bench.projector_throughput

# The fault suite (docs/chaos.md): six scenarios at full size, a table of figures; < 30 min.
chaos: venv
	deploy/scripts/ensure-system.sh --with-postgres
	$(BIN)/python -m bench.chaos

kafka-up: venv
	$(BIN)/handoff kafka up

kafka-down: venv
	$(BIN)/handoff kafka down

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
