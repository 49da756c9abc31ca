# Every target sets itself up from nothing: a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/example.toml

.PHONY: run test soak lint bench clean

# On a terminal only, a line saying what a long, quiet step is doing (never into a pipe
# or a CI log, where the commands make echoes say it already).
say = @if [ -t 2 ]; then echo "$(1)" >&2; fi

$(BIN)/python:
	$(call say,first run: setting up $(VENV) (a minute or so: pip downloads and installs))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamp re-installs when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(call say,installing supervisord-lite and its dependencies into $(VENV)...)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/supervisord-lite -n -c $(CONFIG)

# PYTEST_ARGS: extra pytest arguments for every shard (.ci/run deselects the benchmark
# harness test in its second, concurrent pass). SHARDS: how many pytest processes share
# the files (tests/run_shards.py): the suite mostly waits on real processes.
SHARDS ?= 3
# The suite starts thousands of Python processes from the source tree (daemons, the ctl,
# helpers), and where PYTHONDONTWRITEBYTECODE is set (CI's environment sets it) each one
# compiled all it imports: a daemon's start-up took 0.20 s of CPU, not 0.06 s. The
# bytecode is kept in the venv, out of the tree.
TEST_ENV = PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache

test: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(TEST_ENV) SHARDS=$(SHARDS) $(BIN)/python tests/run_shards.py $(PYTEST_ARGS)

# Minutes: hundreds of long random operation sequences against the real daemon, shrunk
# to the shortest failing one (docs/testing.md). SOAK_EXAMPLES / SOAK_STEPS size it;
# SDL_STATEFUL_SEED=N replays a run.
SOAK_EXAMPLES ?= 200
SOAK_STEPS ?= 50

soak: $(VENV)/.installed
	SDL_SOAK=1 SDL_SOAK_EXAMPLES=$(SOAK_EXAMPLES) SDL_SOAK_STEPS=$(SOAK_STEPS) \
		$(BIN)/python -m pytest -q tests/integration/test_stateful.py

# Runs every default workload against supervisord and supervisord_lite side by side and
# saves the output under benchmarks/runs/ (--save), named by the commit measured, to be
# committed; BENCH_ARGS="--quick" or "--only spawn,ctl" replace that (add --save to keep
# such a run too; "--only scale10k --save" is the 10,000-program run). Then
# `python -m benchmarks.compare OLD NEW` shows every ratio's change between two saved runs. Both are measured
# as users install them: a regular (not editable) install with compiled bytecode, in a
# venv of its own, so
# that neither pays for an editable-install import hook or for compiling its source.
BENCH_VENV ?= .venv-bench
BENCH_ARGS ?= --save

bench:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet '.[test,bench]'
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	$(BENCH_VENV)/bin/python -m benchmarks $(BENCH_ARGS)

# lint-imports: the packages' layers (pyproject.toml [tool.importlinter], docs/architecture.md).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .venv39 $(BENCH_VENV) build *.egg-info .pytest_cache
