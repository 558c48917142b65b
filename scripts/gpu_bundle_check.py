"""Is a wheel bundle complete for the GPU machine? (scripts/gpu-bundle.sh runs this after downloading.)

    python scripts/gpu_bundle_check.py BUNDLE_DIR

Every requirement of powertrain (its dependencies and its ``bench`` extra) and of every wheel in BUNDLE_DIR/wheels,
with environment markers read for CPython 3.12 on Linux x86_64, must be met by a bundled wheel or by a package the
GPU machine already has (scripts/gpu-machine-packages.txt): that machine cannot fetch anything. Names only: the
versions on the GPU machine are not known here. Exit status 1, with the missing names, when the set is incomplete.
Standard library plus ``packaging`` and ``tomli`` (pip's own copies where they are not installed), so any python3
with pip runs it.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # pragma: no cover - depends on the interpreter
    from pip._vendor.packaging.requirements import Requirement
try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
# The GPU machine's interpreter (Python 3.12.3 as its sessions saw it) for environment markers.
TARGET_ENV = {
    "python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
    "implementation_version": "3.12.3", "platform_python_implementation": "CPython", "sys_platform": "linux",
    "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix", "platform_release": "",
    "platform_version": "", "extra": "",
}  # fmt: skip
LEFT_OUT = {"psycopg"}  # PostgreSQL sweep storage only; the evidence run uses SQLite (scripts/gpu-bundle.sh)


def norm(name: str) -> str:
    """A distribution name in its normalised form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def machine_packages(path: Path) -> set[str]:
    """The normalised names listed in scripts/gpu-machine-packages.txt (``#`` lines are comments)."""
    return {norm(w) for line in path.read_text().splitlines() if not line.startswith("#") for w in line.split()}


def wheel_requirements(wheel: Path) -> tuple[str, list[str]]:
    """A wheel's normalised name and its Requires-Dist lines, read from its METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        headers = zf.read(meta).decode("utf-8", errors="replace").split("\n\n", 1)[0].splitlines()
    name = next(h.split(":", 1)[1].strip() for h in headers if h.startswith("Name:"))
    return norm(name), [h.split(":", 1)[1].strip() for h in headers if h.startswith("Requires-Dist:")]


def missing_requirements(wheels: Path, pyproject: Path, machine: set[str]) -> list[str]:
    """``NAME (needed by WHO)`` for every requirement that neither a bundled wheel nor the GPU machine meets."""
    bundled, needs = set(), []
    for wheel in sorted(wheels.glob("*.whl")):
        name, requirements = wheel_requirements(wheel)
        bundled.add(name)
        needs += [(name, r) for r in requirements]
    project = tomllib.loads(pyproject.read_text())["project"]
    needs += [("powertrain", r) for r in [*project["dependencies"], *project["optional-dependencies"]["bench"]]]
    missing = set()
    for who, text in needs:
        req = Requirement(text)
        name = norm(req.name)
        if (req.marker is not None and not req.marker.evaluate(TARGET_ENV)) or name in LEFT_OUT:
            continue
        if name not in bundled and name not in machine:
            missing.add(f"{req.name} (needed by {who})")
    return sorted(missing)


def main(argv: list[str] | None = None) -> int:
    """0 when the bundle is complete, 1 (naming what is missing) when not, 2 for a usage mistake."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: gpu_bundle_check.py BUNDLE_DIR", file=sys.stderr)
        return 2
    wheels = Path(args[0]) / "wheels"
    machine = machine_packages(ROOT / "scripts" / "gpu-machine-packages.txt")
    missing = missing_requirements(wheels, ROOT / "pyproject.toml", machine)
    if missing:
        print("[gpu-bundle] INCOMPLETE, neither bundled nor on the GPU machine: " + ", ".join(missing), file=sys.stderr)
        return 1
    count = len(list(wheels.glob("*.whl")))
    print(f"[gpu-bundle] complete: every requirement of powertrain (and its bench extra) and of the {count} bundled "
          "wheels is bundled or on the GPU machine", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
