#!/usr/bin/env bash
# Every GPU figure of powertrain in one command: scripts/gpu-evidence.sh [--dry-run] OUTDIR   (docs/gpu-evidence.md)
#
# On a machine with an NVIDIA GPU (and no registry: the GPU machine of this workplace), it first sets up from the
# bundle that scripts/gpu-bundle.sh prepared (.gpu-bundle/, or $GPU_BUNDLE): the wheels powertrain needs beyond the
# machine's packages, installed with pip --no-index; powertrain itself, editable and without dependencies; the
# Fashion-MNIST files. Then scripts/gpu_evidence.py runs the steps, each under its own limit:
#
#   set-up     10 s   expected (limits: wheels 20 s, powertrain 2 x 15 s, import check 15 s); the steps get what is
#                     left of the 480 s, so a slow set-up shortens the last step rather than the run growing
#   pytest     60 s   pytest -m gpu tests
#   meter     130 s   bench/meter.py: powertrain per-step / one window, Zeus per-step, CodeCarbon 1 s and 15 s, NVML
#                     (85 s); bench/shared_device.py: two jobs on the GPU at once, each attributed (45 s)
#   train      60 s   bench/train.py: ResNet18 and VGG16 against a plain loop (30 s each)
#   eat        80 s   bench/eat.py: penalty time and peak memory fp32/bf16 (50 s); estimator cost (30 s)
#   eat-study  70 s   ResNet18 on Fashion-MNIST 32x32x3: standard against two EAT settings, 3 epochs, each run's
#                     inference energy measured right after it (the study engine does both in one command)
#   sweep      35 s   learning rate x batch size with energy-to-target
#   inference  15 s   the eat-study's measured inference energy of the standard and sparse models, read back,
#                     and their accelerator energy ratio in ops mode (scripts/gpu_evidence_ops.py)
#   total     480 s   = 8 minutes, inside the GPU machine's 10-minute command (the steps alone: 450 s)
#
# OUTDIR gets exactly 8 files: pytest.json meter.json train.json eat.json eat-study.json sweep.json inference.json
# summary.md. A failed or timed-out step is recorded with its error and the next one runs.
# --dry-run: no set-up, CPU, tiny sizes, 3x the limits, two steps side by side, the same steps and files (pytest -m
# gpu: "skipped: no GPU").
# --setup-only: the set-up alone (to check a bundle installs), no step, no OUTDIR.
# --only STEP,...: only these steps (e.g. to rerun one that failed while the machine is still warm).
# PYTHON (default python3) is the interpreter used throughout.
set -uo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,3p' "$0" | sed 's/^# //' >&2; }
ARGS="$*" DRY=() OUT="" SETUP_ONLY=0 ONLY=()
while [ $# -gt 0 ]; do
  arg=$1; shift
  case "$arg" in
    --only) ONLY=(--only "${1:?--only needs a comma list of steps}"); shift ;;
    --only=*) ONLY=(--only "${arg#--only=}") ;;
    --dry-run) DRY=(--dry-run) ;;
    --setup-only) SETUP_ONLY=1 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "gpu-evidence: unknown option $arg" >&2; usage; exit 2 ;;
    *) if [ -n "$OUT" ]; then echo "gpu-evidence: one OUTDIR only" >&2; exit 2; fi; OUT=$arg ;;
  esac
done
if [ -z "$OUT" ] && [ "$SETUP_ONLY" = 0 ]; then usage; exit 2; fi
PYTHON=${PYTHON:-python3}
BUNDLE=${GPU_BUNDLE:-.gpu-bundle}
FMNIST=/usr/share/datasets/fashion-mnist
SETUP_LOG=$(mktemp -t gpu-evidence-setup.XXXXXX)
trap 'rm -f "$SETUP_LOG"' EXIT

say() { printf '[gpu-evidence] %s\n' "$*" | tee -a "$SETUP_LOG" >&2; }
pip_quiet() { timeout "$1" "$PYTHON" -m pip --disable-pip-version-check -q "${@:2}" >>"$SETUP_LOG" 2>&1; }

setup() {  # offline: wheels from the bundle, powertrain editable without dependencies, the dataset
  local start=$SECONDS
  if compgen -G "$BUNDLE/wheels/*.whl" >/dev/null; then
    say "installing $(ls "$BUNDLE"/wheels/*.whl | wc -l) wheels from $BUNDLE/wheels (no network, no dependencies)"
    pip_quiet 20 install --no-index --no-deps --no-compile "$BUNDLE"/wheels/*.whl || say "wheel install FAILED (see above)"
  else
    say "no wheel bundle in $BUNDLE/wheels: using the packages already installed (scripts/gpu-bundle.sh makes one)"
  fi
  if ! pip_quiet 15 install --no-index --no-deps --no-build-isolation -e .; then
    say "editable install with the machine's setuptools failed; trying the bundle's setuptools"
    pip_quiet 15 install --no-index --no-deps --find-links "$BUNDLE/build" -e . || say "powertrain install FAILED"
  fi
  if [ ! -e "$FMNIST/train-images-idx3-ubyte.gz" ] && compgen -G "$BUNDLE/fashion-mnist/*.gz" >/dev/null; then
    mkdir -p "$FMNIST" && cp "$BUNDLE"/fashion-mnist/*.gz "$FMNIST"/ && say "Fashion-MNIST copied to $FMNIST" \
      || say "could not copy Fashion-MNIST to $FMNIST"
  fi
  timeout 15 "$PYTHON" - >>"$SETUP_LOG" 2>&1 <<'EOF'
import importlib
for name in ("powertrain", "optuna", "sqlalchemy", "zeus.monitor", "codecarbon"):
    try:
        importlib.import_module(name)
        print(f"[gpu-evidence] import {name}: ok")
    except Exception as exc:  # noqa: BLE001
        print(f"[gpu-evidence] import {name}: {type(exc).__name__}: {exc}")
EOF
  grep '^\[gpu-evidence\] import' "$SETUP_LOG" >&2
  say "set-up took $((SECONDS - start)) s"
}

if [ "${#DRY[@]}" -eq 0 ]; then
  setup
  if [ "$SETUP_ONLY" = 1 ]; then exit 0; fi
else
  say "dry run: no set-up; CPU, tiny sizes"
fi
BUDGET_S=$((480 - SECONDS))  # what the set-up left of the 8 minutes
"$PYTHON" scripts/gpu_evidence.py "$OUT" "${DRY[@]}" "${ONLY[@]}" --setup-log "$SETUP_LOG" --budget-s "$BUDGET_S" \
  --command "scripts/gpu-evidence.sh $ARGS"
