# reelbot — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
TOPIC  ?= the life cycle of a star

.PHONY: demo test test-browser test-faults test-postgres lint bench status clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reelbot make "$(TOPIC)" --length short --out out/demo.mp4

# The fast suite. The slow fault suite (tests/faults: real agent processes killed, disks filled,
# hundreds of reconnects) runs in `make test-faults`, which .ci/run also runs.
# The browser tests (tests/browser: the operator console in headless Chromium) run here when the
# system has Chromium (Debian's `chromium`; REELBOT_CHROMIUM names another binary), else one line says so.
CHROMIUM := $(or $(REELBOT_CHROMIUM),$(shell command -v chromium || command -v chromium-browser))

test: $(STAMP)
	@echo "make test: the slow fault suite (tests/faults, with the distributed mode's process tests) runs with 'make test-faults' and in .ci/run"
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/faults --ignore=tests/browser
	@if [ -n "$(CHROMIUM)" ]; then $(MAKE) --no-print-directory test-browser; \
	else echo "make test: skipped the browser tests (tests/browser): no Chromium here (apt-get install chromium)"; fi

test-browser: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/browser

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-faults: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests/faults

# the storage tests and the agent service's once more on a real PostgreSQL 16 (pgserver, in a
# temporary folder): the ledger, group commit and locking as the distributed mode runs them, and the
# single-box agent on PostgreSQL (tests.storage.pg_plugin; SQLite-only simulations are skipped, with
# their reason); .ci/run runs it
test-postgres: $(STAMP)
	$(PY) -m tests.support.with_postgres -m pytest -q -p no:cacheprovider -p tests.storage.pg_plugin \
		tests/storage tests/agent/service

# moviepy, the render benchmark's naive baseline, is only in the `bench` extra
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/render_bench.py
	$(PY) bench/pipeline_bench.py
	$(PY) bench/agent_load.py
	$(PY) bench/cluster_bench.py

status: $(STAMP)
	$(VENV)/bin/reelbot status

clean:
	rm -rf $(VENV) out .pytest_cache
