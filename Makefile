# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv with the newest Python >= 3.10 it finds and installs what it needs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# pyenv shims answer `command -v` for versions that are not installed, so run each candidate.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3.10 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: demo test bench bench-nautilus bench-portfolio clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.10 or newer is required (none found on PATH)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m actors.cli demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_fastpath.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_gateway.py
	$(PY) benchmarks/bench_restore.py
	$(PY) benchmarks/bench_train.py
	$(MAKE) bench-nautilus bench-portfolio

# NautilusTrader 1.222+ needs Python 3.12: it gets its own virtualenv (benchmarks/peers/.venv, the
# version pinned in benchmarks/peers/requirements-nautilus.txt), built from the first Python >= 3.12
# found (pyenv's 3.12 included); without one the benchmark runs ours and backtesting.py and says why.
NAUTILUS_VENV := benchmarks/peers/.venv
NAUTILUS_STAMP := $(NAUTILUS_VENV)/.installed
NAUTILUS_PYTHON ?= $(shell for p in python3.13 python3.12 $(HOME)/.pyenv/versions/3.12*/bin/python; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)

$(NAUTILUS_STAMP): benchmarks/peers/requirements-nautilus.txt
	$(NAUTILUS_PYTHON) -m venv $(NAUTILUS_VENV)
	$(NAUTILUS_VENV)/bin/python -m pip install -q --upgrade pip
	$(NAUTILUS_VENV)/bin/python -m pip install -q -r benchmarks/peers/requirements-nautilus.txt
	@touch $(NAUTILUS_STAMP)

bench-nautilus: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	@if [ -n "$(NAUTILUS_PYTHON)" ]; then $(MAKE) --no-print-directory $(NAUTILUS_STAMP); \
	else echo "note: NautilusTrader skipped: it needs Python 3.12 or newer, none found"; fi
	$(PY) benchmarks/bench_nautilus.py

bench-portfolio: $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) benchmarks/bench_portfolio.py

clean:
	rm -rf $(VENV) build *.egg-info

# Regenerate backtestester/rpc/ from protos/ (grpcio-tools, a test extra); see docs/wire.md.
.PHONY: protos
protos: $(STAMP)
	$(PY) scripts/gen_protos.py

# Provisioning (docs/provisioning.md): lint and syntax-check the playbooks, then run them end to
# end on a throwaway Debian 12 VPS (needs root, debootstrap and systemd-container). ansible and
# ansible-lint live in their own virtualenv, which needs Python 3.11 or newer.
PROVISION_VENV := tests/provision/.venv
PROVISION_STAMP := $(PROVISION_VENV)/.installed
PROVISION_PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)

$(PROVISION_STAMP): tests/provision/requirements.txt
	@test -n "$(PROVISION_PYTHON)" || { echo "error: Python 3.11 or newer is required for ansible (none found on PATH)"; exit 1; }
	$(PROVISION_PYTHON) -m venv $(PROVISION_VENV)
	$(PROVISION_VENV)/bin/python -m pip install -q -r tests/provision/requirements.txt
	@touch $(PROVISION_STAMP)

.PHONY: test-provision
test-provision: $(PROVISION_STAMP)
	PATH="$(CURDIR)/$(PROVISION_VENV)/bin:$$PATH" tests/provision/lint.sh
	PATH="$(CURDIR)/$(PROVISION_VENV)/bin:$$PATH" tests/provision/e2e.sh

.PHONY: lint-provision
lint-provision: $(PROVISION_STAMP)
	PATH="$(CURDIR)/$(PROVISION_VENV)/bin:$$PATH" tests/provision/lint.sh
