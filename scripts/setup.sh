#!/usr/bin/env bash
# One-time set-up for a fresh machine, safe to run again: it only does what is missing.
#   - the Debian package dataset-fashion-mnist (the embedded default dataset), where apt is available and we are root
#   - a virtual environment in .venv with PyTorch, torchvision and powertrain (editable, with its dev tools)
# With --test, also what the test suite needs beyond that:
#   - Debian's postgresql (the tests start a throwaway server of their own), chromium (the report's browser test) and
#     prometheus (it scrapes the exporter in the tests)
#   - the optional integration extras (Lightning, Hugging Face transformers) and the trackers extra (MLflow,
#     TensorBoard, W&B, Ray Tune, prometheus-client)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
FOR_TESTS=0
[ "${1:-}" = "--test" ] && FOR_TESTS=1
log() { printf '[setup] %s\n' "$*" >&2; }
can_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
APT_UPDATED=0
apt_install() {  # apt_install PACKAGE...: install what is missing, quietly
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if can_apt; then
    log "installing the Debian package dataset-fashion-mnist"
    apt_install dataset-fashion-mnist || log "could not install dataset-fashion-mnist; pass --data-dir or --download to use Fashion-MNIST"
  else
    log "apt-get not usable here; Fashion-MNIST needs --data-dir or --download"
  fi
fi

if [ "$FOR_TESTS" = 1 ]; then
  missing=()
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  if [ "${#missing[@]}" -gt 0 ]; then
    if can_apt; then
      log "installing the Debian packages ${missing[*]} (for the tests)"
      apt_install "${missing[@]}"
    else
      log "tests need ${missing[*]}: install them (Debian: apt-get install ${missing[*]})"
    fi
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c 'import torch, torchvision' >/dev/null 2>&1; then
  # A matching torch/torchvision pair; on x86_64 with Python 3.11 pip takes it from this workplace's local disk.
  case "$(uname -m)" in
    aarch64|arm64) TORCH=(torch==2.9.1 torchvision==0.24.1) ;;
    *) TORCH=(torch==2.14.1 torchvision==0.29.1) ;;
  esac
  log "installing ${TORCH[*]} (a few GB, about a minute from a local mirror)"
  "${PIP[@]}" install "${TORCH[@]}" 2> >(grep -v '^WARNING: Location' >&2)
fi

extras=dev
[ "$FOR_TESTS" = 1 ] && extras=dev,integrations,trackers
stamp="$VENV/.powertrain-installed-$extras"
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing powertrain[$extras] and its dependencies"
  "${PIP[@]}" install -e ".[$extras]" 2> >(grep -v '^WARNING: Location' >&2)
  touch "$stamp"
fi
log "ready: $VENV/bin/powertrain"
