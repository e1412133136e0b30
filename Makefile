# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv with the newest Python >= 3.10 it finds and installs what it needs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# pyenv shims answer `command -v` for versions that are not installed, so run each candidate.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3.10 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.10 or newer is required (none found on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m backtestester.cli demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_fastpath.py
	$(PY) benchmarks/bench_sweep.py

clean:
	rm -rf $(VENV) build *.egg-info

# Regenerate backtestester/rpc/ from protos/ (grpcio-tools, a test extra); see docs/wire.md.
.PHONY: protos
protos: $(STAMP)
	$(PY) scripts/gen_protos.py
