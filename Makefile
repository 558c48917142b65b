# `make demo` and `make test` each do all set-up on a fresh machine first (scripts/setup.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-stress test-gpu lint bench-meter gpu-bundle gpu-evidence

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/powertrain demo

test:
	@bash scripts/setup.sh --test
	$(PY) -m pytest -q

# The suite N times (default 5) with every core kept busy and in random order (scripts/test-stress.sh):
#   make test-stress N=5 [SEED=123] [LOAD=0] [SCRAMBLE=1] [ARGS='tests/cli']
N ?= 5
test-stress:
	@bash scripts/setup.sh --test
	PYTHON=$(PY) bash scripts/test-stress.sh -n $(N) $(if $(SEED),--seed $(SEED)) $(if $(filter 0,$(LOAD)),--no-load) \
		$(if $(filter 1,$(SCRAMBLE)),--scramble-cpu) $(if $(ARGS),-- $(ARGS))

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
