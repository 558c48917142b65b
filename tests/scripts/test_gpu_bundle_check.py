"""scripts/gpu_bundle_check.py: a bundle is complete only when every requirement that applies on the GPU machine
(CPython 3.12, Linux x86_64) is met by a bundled wheel or by a package that machine already has."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_bundle_check
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return gpu_bundle_check


def _wheel(folder: Path, name: str, *requires: str) -> None:
    meta = "Metadata-Version: 2.1\nName: " + name + "\nVersion: 1.0\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires) + "\nRequires-Dist: not-a-header (in the body)\n"
    with zipfile.ZipFile(folder / f"{name.replace('-', '_')}-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{name.replace('-', '_')}-1.0.dist-info/METADATA", meta)


PYPROJECT = """
[project]
name = "powertrain"
dependencies = ["torch>=2.2", "Optuna>=4.0", "psycopg[binary]>=3.1"]
[project.optional-dependencies]
bench = ["zeus==0.16.0"]
"""


def test_requirements_met_by_the_bundle_or_the_machine_and_markers_read_for_the_gpu_machine(tmp_path):
    check = _check()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    _wheel(wheels, "optuna", "alembic>=1.5", "colorlog", "numpy", "tomli; python_version < '3.11'",
           "pytest; extra == 'test'", "pywin32; sys_platform == 'win32'")  # fmt: skip
    _wheel(wheels, "alembic", "SQLAlchemy>=1.4", "typing_extensions>=4")
    _wheel(wheels, "zeus", "amdsmi", "nvidia-ml-py", "uvloop; platform_machine == 'x86_64'")
    machine = {"torch", "numpy", "nvidia-ml-py", "typing-extensions"}
    missing = check.missing_requirements(wheels, tmp_path / "pyproject.toml", machine)
    # colorlog, SQLAlchemy, amdsmi and uvloop (its marker holds on x86_64) are missing; tomli (3.12), the
    # extra's pytest, Windows' pywin32 and psycopg (left out on purpose) are not asked for
    assert missing == ["SQLAlchemy (needed by alembic)", "amdsmi (needed by zeus)", "colorlog (needed by optuna)",
                       "uvloop (needed by zeus)"]  # fmt: skip
    for name in ("colorlog", "sqlalchemy", "amdsmi"):
        _wheel(wheels, name)
    assert check.missing_requirements(wheels, tmp_path / "pyproject.toml", machine | {"uvloop"}) == []
    (wheels / "zeus-1.0-py3-none-any.whl").unlink()
    assert check.missing_requirements(wheels, tmp_path / "pyproject.toml", machine | {"uvloop"}) == [
        "zeus (needed by powertrain)"
    ]


def test_the_machine_list_names_what_the_gpu_machine_has(tmp_path, capsys):
    check = _check()
    machine = check.machine_packages(ROOT / "scripts" / "gpu-machine-packages.txt")
    present = ["torch", "torchvision", "nvidia-ml-py", "lightning", "matplotlib", "jinja2", "psutil", "rich", "typer"]
    assert set(present) <= machine
    assert not machine & {"optuna", "zeus", "codecarbon", "sqlalchemy", "alembic", "colorlog"}  # these must travel
    (tmp_path / "wheels").mkdir()
    assert check.main([str(tmp_path)]) == 1  # an empty bundle: Optuna, Zeus, CodeCarbon... missing
    err = capsys.readouterr().err
    assert err.startswith("[gpu-bundle] INCOMPLETE") and "optuna (needed by powertrain)" in err
    assert check.main([]) == 2
