# `make demo` and `make test` each do all set-up on a fresh machine first (scripts/setup.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-gpu lint bench-meter gpu-bundle gpu-evidence

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

# The GPU evidence (docs/gpu-evidence.md): `make gpu-bundle` here, then on the GPU machine `make gpu-evidence OUT=DIR`;
# `make gpu-evidence OUT=DIR DRY=1` runs the CPU dry run anywhere.
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),python3)

gpu-bundle:
	PYTHON=$(GPU_PYTHON) bash scripts/gpu-bundle.sh

gpu-evidence:
	@test -n "$(OUT)" || { echo "usage: make gpu-evidence OUT=DIR [DRY=1]" >&2; exit 2; }
	PYTHON=$(GPU_PYTHON) bash scripts/gpu-evidence.sh $(if $(DRY),--dry-run) $(OUT)
