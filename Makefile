# Two commands on a fresh machine with Python 3.11: `make repro` and `make test`.
# DVC runs stage commands with the first `python` on PATH, so every target puts the venv first.
PYTHON ?= python3.11
VENV := .venv
UV_VERSION := 0.13.8
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install repro test test-all test-cluster check check-cluster status-remote report bench bench-cluster lock clean

install: $(VENV)/.installed

# The lock pins every package (with hashes); bytecode is compiled once here, not at each stage start.
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip sync --quiet --python $(VENV)/bin/python --compile-bytecode requirements.lock
	touch $@

repro: install
	dvc repro

# One pytest worker per core, each taking whole test files (a file's tests share its fixtures), in the order
# tests/conftest.py sorts them: the first file that uses a tiny project starts at once and builds it, the other
# files that use it come last, and reuse that build. Not --dist loadgroup: with pytest 9.2 it no longer groups
# anything (pytest-xdist issue 1386), and `make test` built the tiny project on both workers at once.
PYTEST_PARALLEL := -n auto --dist loadfile --no-loadscope-reorder

# The fast tier: unit tests and the tiny-pipeline tests of the everyday rules (docs/tests.md).
test: install
	python -m pytest $(PYTEST_PARALLEL) -m "not slow and not cluster"

# Every tier, with the slowest tests listed. Files with the most slow tests start first (tests/conftest.py),
# so that no worker ends alone on a long one. The cluster tier runs beside the other two (much of its time
# is spent waiting: for nodes, dumps, limits), its output shown after theirs. All share one build of each
# tiny project (TEST_PROJECTS), removed at the end.
test-all: install
	projects=$$(mktemp -d) && trap 'rm -rf "$$projects"' EXIT && export TEST_PROJECTS=$$projects && \
	{ $(MAKE) --no-print-directory test-cluster >"$$projects/cluster.log" 2>&1 & cluster=$$!; } && \
	{ python -m pytest $(PYTEST_PARALLEL) -m "not cluster" --durations=20; \
	  tiers=$$?; wait $$cluster; clustered=$$?; \
	  echo "--- the cluster tier (make test-cluster), run beside the tiers:"; cat "$$projects/cluster.log"; \
	  [ $$tiers -eq 0 ] && [ $$clustered -eq 0 ]; }

# Ray's cluster tests in a network namespace with only loopback (needs root): Ray would otherwise
# swap 127.0.0.1 for the machine's outward address, and nothing here may reach the network.
test-cluster: install
	unshare -n -- bash -c 'ip link set lo up && exec python -m pytest -m cluster --durations=10'

# The reproducibility gate: the committed dvc.lock and metrics/ must come back bit for bit.
check: install
	bash .ci/reproduce

# The same gate with every training on a Ray cluster started for it on this machine (two worker
# nodes), in a network namespace with loopback only (needs root).
check-cluster: install
	unshare -n -- bash -c 'ip link set lo up && exec python .ci/on-cluster -- bash .ci/reproduce'

# The cheap CI check: every output is in the default remote and no stage would run (nothing trains).
status-remote: install
	bash .ci/status-remote

# The pull-request report: params and metrics diff against BASE, and the figures, in report.md.
BASE ?= main
report: install
	bash .ci/report $(BASE)

# BENCH_ARGS: the options of both benchmarks, e.g. a tiny run (benchmarks/bench.py; tests/test_bench.py runs one).
bench: install
	python -m benchmarks.bench $(BENCH_ARGS)
	$(MAKE) bench-cluster

# train@ on a local Ray cluster vs the local workers. In a network namespace with loopback only (needs
# root): Ray would otherwise swap 127.0.0.1 for the machine's outward address.
bench-cluster: install
	unshare -n -- bash -c 'ip link set lo up && exec python -m benchmarks.cluster $(BENCH_ARGS)'

# `dvc exp show` in 120 columns (<series>.<model>.rmse names are long): the params that differ between experiments and each model's
# EXPS_METRIC on one series (EXPS_SERIES; the mean across seeds; rmse: the closed loop, rolling_rmse: the
# rolling-origin score the verdicts use, 140 columns wide); no dates, executors, hashes of data, models and code,
# or other metrics (every column not named after a params section, except <EXPS_SERIES>.<model>.<EXPS_METRIC>).
# EXP_ARGS adds options, e.g. EXP_ARGS=--csv.
.PHONY: exps vega-page
EXPS_SERIES ?= sunspots
EXPS_METRIC ?= rmse
EXPS_DROP = Created|State|Executor|(data|models|metrics|stages)(/|$$)|(?!(signal|series|windows|train|models|tune|evaluate|plots)\.)(?!$(EXPS_SERIES)\.[a-z0-9_]+\.$(EXPS_METRIC)$$)[a-z0-9_]+\..+
exps:
	dvc exp show --no-pager --only-changed --drop '$(EXPS_DROP)' $(EXP_ARGS)

# Rewrite .dvc/plots/page.html (committed) from npm: only to change the Vega versions.
vega-page:
	tools/vega-page

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: install
	uv pip compile pyproject.toml --extra test --python-version 3.11 --generate-hashes -o requirements.lock

clean:
	rm -rf $(VENV)
