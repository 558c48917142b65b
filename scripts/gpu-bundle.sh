#!/usr/bin/env bash
# Prepare what the GPU machine lacks, for scripts/gpu-evidence.sh to install there with no network:
#   scripts/gpu-bundle.sh [DIR]        (default .gpu-bundle, git-ignored; docs/gpu-evidence.md)
#
#   DIR/wheels/         manylinux x86_64 / pure-Python wheels for CPython 3.12 of every package powertrain needs
#                       (its dependencies and the `bench` extra: Optuna, SQLAlchemy, Alembic, colorlog, Zeus 0.16,
#                       CodeCarbon...) that the GPU machine does not already have (scripts/gpu-machine-packages.txt)
#   DIR/build/          setuptools, to install powertrain editable there if the machine's own setuptools cannot
#   DIR/fashion-mnist/  the four Fashion-MNIST files (/usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
#   DIR/MANIFEST.txt    what is in it and how large
#
# The requirements are resolved for the target (pip install --dry-run --report, Python 3.12, manylinux x86_64),
# the machine's packages are left out, and the rest is downloaded with --no-deps, one version each. Then it checks
# that the set is complete (every requirement met by a bundled wheel or a package the GPU machine has) and
# that the bundle plus the working tree that travels with it stays within the GPU machine's 64 MiB.
# PYTHON (default python3) runs pip; it needs network access to a package index (here: PyPI and local mirrors).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-${GPU_BUNDLE:-.gpu-bundle}}
PYTHON=${PYTHON:-python3}
LIMIT_BYTES=$((64 * 1024 * 1024))
FMNIST=/usr/share/datasets/fashion-mnist
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64
        --platform manylinux1_x86_64)
PIP=("$PYTHON" -m pip --disable-pip-version-check)
log() { printf '[gpu-bundle] %s\n' "$*" >&2; }

if ! git check-ignore -q "$BUNDLE/"; then
  log "$BUNDLE is not git-ignored: it would travel twice (as files and as carry); add it to .gitignore"
  exit 2
fi
scratch=$(mktemp -d -t gpu-bundle.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# 1. What powertrain needs at run time (pyproject.toml's dependencies and its `bench` extra), less the requirements
#    the GPU machine meets already: resolving torch here would drag its CUDA wheels (gigabytes) in. psycopg (4 MiB)
#    stays behind too: only PostgreSQL sweep storage needs it, and the evidence run uses SQLite.
"$PYTHON" - >"$scratch/requirements.txt" <<'EOF'
import re, sys, tomllib
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
have = {norm(w) for line in open("scripts/gpu-machine-packages.txt") if not line.startswith("#") for w in line.split()}
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for requirement in [*project["dependencies"], *project["optional-dependencies"]["bench"], "setuptools>=68"]:
    name = norm(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0))
    if name == "psycopg":
        print(f"[gpu-bundle] left out: {requirement} (PostgreSQL storage only)", file=sys.stderr)
    elif name not in have or name == "setuptools":
        print(requirement)
EOF
log "resolving $(wc -l <"$scratch/requirements.txt") requirements for CPython 3.12 on manylinux x86_64"
"${PIP[@]}" install -q --dry-run --ignore-installed --target "$scratch/target" --report "$scratch/report.json" \
  "${TARGET[@]}" -r "$scratch/requirements.txt" 2> >(grep -v '^WARNING: Location' >&2)

# 2. Leave out what the GPU machine has (setuptools goes to build/ for the editable install only).
"$PYTHON" - "$scratch" <<'EOF'
import json, re, sys
from pathlib import Path
scratch = Path(sys.argv[1])
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
have = {norm(w) for line in open("scripts/gpu-machine-packages.txt") if not line.startswith("#") for w in line.split()}
wheels, build, skipped = [], [], []
for item in json.loads((scratch / "report.json").read_text())["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    pin = f"{name}=={version}"
    if norm(name) == "setuptools":
        build.append(pin)
    elif norm(name) in have:
        skipped.append(pin)
    else:
        wheels.append(pin)
(scratch / "wheels.txt").write_text("\n".join(wheels) + "\n")
(scratch / "build.txt").write_text("\n".join(build) + "\n")
print(f"[gpu-bundle] {len(wheels)} packages to bundle; {len(skipped)} already on the GPU machine: "
      + " ".join(sorted(skipped)), file=sys.stderr)
EOF

# 3. Download them (one version each: start from empty folders).
rm -rf "$BUNDLE/wheels" "$BUNDLE/build"
mkdir -p "$BUNDLE/wheels" "$BUNDLE/build" "$BUNDLE/fashion-mnist"
"${PIP[@]}" download -q --no-deps "${TARGET[@]}" -d "$BUNDLE/wheels" -r "$scratch/wheels.txt" \
  2> >(grep -v '^WARNING: Location' >&2)
"${PIP[@]}" download -q --no-deps --only-binary=:all: -d "$BUNDLE/build" -r "$scratch/build.txt" \
  2> >(grep -v '^WARNING: Location' >&2)

# 4. The dataset.
if compgen -G "$FMNIST/*-ubyte.gz" >/dev/null; then
  cp -u "$FMNIST"/*-ubyte.gz "$BUNDLE/fashion-mnist/"
else
  log "no Fashion-MNIST in $FMNIST (apt-get install dataset-fashion-mnist): the bundle goes without it"
fi

# 5. Completeness: every requirement of powertrain and of every bundled wheel (markers read for CPython 3.12 on
#    Linux x86_64) must be met by a bundled wheel or a package the GPU machine has, since it cannot fetch any.
"$PYTHON" scripts/gpu_bundle_check.py "$BUNDLE"

# 6. Sizes: the bundle and what travels with it (tracked and untracked-not-ignored files), against 64 MiB.
{
  echo "# $BUNDLE, made $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/gpu-bundle.sh for CPython 3.12 manylinux x86_64"
  (cd "$BUNDLE" && find . -type f ! -name MANIFEST.txt -printf '%s\t%P\n' | sort -k2)
} >"$BUNDLE/MANIFEST.txt"
bundle_bytes=$(du -sb "$BUNDLE" | cut -f1)
tree_bytes=$(git ls-files -z -co --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
total=$((bundle_bytes + tree_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
log "bundle $(mib "$bundle_bytes") ($(ls "$BUNDLE/wheels" | wc -l) wheels $(mib "$(du -sb "$BUNDLE/wheels" | cut -f1)"), \
data $(mib "$(du -sb "$BUNDLE/fashion-mnist" | cut -f1)")) + working tree $(mib "$tree_bytes") = $(mib "$total") of 64 MiB"
if [ "$total" -gt "$LIMIT_BYTES" ]; then
  log "TOO LARGE for the GPU machine (64 MiB travel at most): drop something"
  exit 1
fi
log "ready: run with carry [\"$BUNDLE\"] (docs/gpu-evidence.md)"
