# Two commands on a fresh machine: `make run` and `make test`. Only Python 3.11+ and make needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
# Extra arguments for `wallet-api bench`, e.g. make bench BENCH_ARGS='--duration 5 --scenarios hot'
BENCH_ARGS ?=

.PHONY: install run test test-faults test-ha ha-up ha-failover ha-status ha-down ha-bench fuzz lint format \
	clean bench bench-scale bench-tools

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# wrk drives the service; pgbench comes with PostgreSQL (the embedded one ships its own).
bench-tools: $(BENCH_STAMP)
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

bench: bench-tools
	$(BIN)/wallet-api bench $(BENCH_ARGS)

bench-scale: bench-tools
	$(BIN)/wallet-api bench --scale $(BENCH_ARGS)

run: install
	$(BIN)/wallet-api serve

test: install
	$(BIN)/python -m pytest -q

# The schemathesis fuzzing of tests/test_fuzz.py with many more examples than `make test` runs.
FUZZ_EXAMPLES ?= 1000
fuzz: install
	WALLET_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/test_fuzz.py

# Fault injection under load (PostgreSQL restarts, a killed worker, SIGTERM) and two instances
# behind HAProxy (the Debian package, installed here when missing). A few minutes.
test-faults: install
	command -v haproxy >/dev/null || (apt-get update -qq && apt-get install -y -qq haproxy)
	$(BIN)/python -m pytest -q -m faults tests/faults

# The primary of a pg_auto_failover cluster killed, then cut off the network, under load (tests/ha):
# the packages (iptables for the cut) are installed when missing. A few minutes.
test-ha: install
	command -v pg_autoctl >/dev/null && command -v iptables >/dev/null || (apt-get update -qq && \
		apt-get install -y -qq postgresql-15-auto-failover pg-auto-failover-cli iptables)
	$(BIN)/python -m pytest -q -s -m ha tests/ha

# High availability on loopback (deploy/ha, docs/high-availability.md): a pg_auto_failover monitor
# and two PostgreSQL nodes with synchronous replication, run as the user wallet-ha, data in
# .ha-data. `make ha-up` prints the service's DATABASE_URL on its last line.
ha-up:
	@bash deploy/ha/up.sh

ha-failover:
	@bash deploy/ha/failover.sh

ha-status:
	@bash deploy/ha/status.sh

ha-down:
	@bash deploy/ha/down.sh

# `hot` and `spread` on the running cluster and on its primary alone, alternating, and the
# cluster/single ratio of each round (HA_BENCH_ROUNDS=3, HA_BENCH_DURATION=10).
ha-bench: bench-tools
	@bash deploy/ha/bench.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
