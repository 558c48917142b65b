# `make demo` and `make test` each do all set-up on a fresh machine first (scripts/setup.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-gpu lint bench-meter

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/powertrain demo

test:
	@bash scripts/setup.sh --test
	$(PY) -m pytest -q

test-gpu: setup
	$(PY) -m pytest -q -m gpu tests/gpu

lint: setup
	$(VENV)/bin/ruff check src tests bench
