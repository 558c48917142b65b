"""summary.md of the GPU evidence run.

The command, the hardware, every target with its verdict, and each step's figures; scripts/gpu_evidence.py
rewrites it after every step.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` through a temporary file in the same folder, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the results from other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cell(value: Any) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    """``text`` made safe inside a fenced code block."""
    return text.rstrip().replace("`" * 3, "'" * 3)


def md_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table (cells escaped)."""
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + " --- |" * len(columns)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def describe_hardware(hw: dict[str, Any]) -> list[str]:
    """Bullet lines for the hardware section."""
    if "gpus" not in hw:
        return [f"- hardware probe failed: {_cell(hw.get('error', 'no answer'))[:300]}"]
    gpus = hw.get("gpus") or []
    names = ", ".join(f"{g.get('name')} ({(g.get('memory_bytes') or 0) / 2**30:.0f} GiB)" for g in gpus) or "none"
    lines = [
        f"- GPU: {names}; driver {hw.get('gpu_driver') or '-'}",
        f"- CPU: {hw.get('cpu_model')}, {hw.get('cpu_logical_cores')} logical cores, "
        f"{(hw.get('ram_bytes') or 0) / 2**30:.0f} GiB RAM",
        f"- software: Python {hw.get('python')}, PyTorch {hw.get('torch')}, powertrain {hw.get('powertrain')}; "
        f"OS {hw.get('os')}",
    ]
    smi = hw.get("nvidia_smi") or {}
    if smi.get("rows"):
        lines.append(f"- nvidia-smi ({smi['query']}): " + "; ".join(smi["rows"]))
    return lines


def _verdict(met: bool | None, dry: bool) -> str:
    word = "not measured" if met is None else "met" if met else "NOT MET"
    return f"{word} (dry run)" if dry and met is not None else word


def render_summary(meta: dict[str, Any], records: list[dict[str, Any]], steps: list[Any]) -> str:
    """The whole summary.md from the run's metadata and the records of the steps run so far."""
    dry = meta.get("dry_run", False)
    out = ["# GPU evidence" + (" (DRY RUN: CPU, tiny sizes; these figures prove the script runs, not the targets)"
                               if dry else ""), ""]  # fmt: skip
    out += [f"- command: `{meta.get('command')}`", f"- commit: {meta.get('commit') or '-'}",
            f"- started: {meta.get('started_utc')}; elapsed {meta.get('elapsed_s', '-')} s of at most "
            f"{meta.get('total_limit_s')} s for the steps"]  # fmt: skip
    if meta.get("stopped"):
        out.append(f"- **{meta['stopped']}**")
    out += ["", "## Hardware", "", *describe_hardware(meta.get("hardware") or {}), ""]
    if meta.get("setup"):
        out += ["Set-up (gpu-evidence.sh):", "", "```text", _fence(meta["setup"]), "```", ""]
    done = {r["step"]: r for r in records}
    out += ["## Steps", ""]
    rows = []
    for step in steps:
        r = done.get(step.name)
        if r is None:
            rows.append([step.name, step.title, "not run", "-", step.limit_s, ""])
            continue
        error = (r.get("error") or "")[:300]
        rows.append([step.name, step.title, r["status"], r.get("duration_s"), r.get("limit_s", step.limit_s), error])
    out += md_table(["step", "what", "status", "seconds", "limit s", "error"], rows) + [""]
    targets = [t for r in records for t in (r.get("figures") or {}).get("targets", [])]
    out += ["## Targets", ""]
    if targets:
        out += md_table(["target", "measured", "target", "verdict"],
                        [[t["what"], t["shown"], t["limit"], _verdict(t["met"], dry)] for t in targets])  # fmt: skip
    else:
        out.append("No target figure yet.")
    out.append("")
    for r in records:
        out += _step_section(r)
    return "\n".join(out) + "\n"


def _step_section(record: dict[str, Any]) -> list[str]:
    out = [f"## {record['step']}: {record['title']}", "", f"Status: **{record['status']}**"
           + (f" after {record['duration_s']} s" if record.get("duration_s") else "") + ".", ""]  # fmt: skip
    for cmd in record.get("commands", []):
        line = f"- `{' '.join(str(a) for a in cmd.get('argv', []))}`: {cmd.get('status')}"
        if cmd.get("duration_s") is not None:
            line += f" in {cmd['duration_s']} s (limit {cmd.get('limit_s')} s)"
        out.append(line)
        if cmd.get("status") != "ok" and cmd.get("output_tail"):
            tail = "\n".join(cmd["output_tail"].rstrip().splitlines()[-15:])
            out += ["", "```text", _fence(tail), "```"]
    figures = record.get("figures") or {}
    if figures.get("error"):
        out += ["", f"Figures: {figures['error']}"]
    for note in figures.get("notes", []):
        out += ["", note]
    for table in figures.get("tables", []):
        if table.get("rows"):
            out += ["", f"{table['title']}:", "", *md_table(table["columns"], table["rows"])]
    if figures.get("markdown"):
        body = [("##" + line) if line.startswith("#") else line for line in figures["markdown"].splitlines()]
        out += ["", "<details><summary>the study's own results.md</summary>", "", *body, "", "</details>"]
    return [*out, ""]
