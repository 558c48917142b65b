#!/usr/bin/env bash
# One-time set-up for a fresh machine, safe to run again: it only does what is missing.
#   - the Debian package dataset-fashion-mnist (the embedded default dataset), where apt is available and we are root
#   - a virtual environment in .venv with PyTorch, torchvision and powertrain (editable, with its dev tools)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
log() { printf '[setup] %s\n' "$*" >&2; }

if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing the Debian package dataset-fashion-mnist"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
      || log "could not install dataset-fashion-mnist; pass --data-dir or --download to use Fashion-MNIST"
  else
    log "apt-get not usable here; Fashion-MNIST needs --data-dir or --download"
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

stamp="$VENV/.powertrain-installed"
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  log "installing powertrain and its dependencies"
  "${PIP[@]}" install -e '.[dev]' 2> >(grep -v '^WARNING: Location' >&2)
  touch "$stamp"
fi
log "ready: $VENV/bin/powertrain"
