"""Build the report: one self-contained HTML file (plots embedded as data URIs) and a Markdown summary beside it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import jinja2

from powertrain._files import make_folders, remove_empty_folders, write_atomic
from powertrain.carbon import CarbonSettings
from powertrain.errors import ConfigError, OutputError
from powertrain.meters.measurement import attribution_scope
from powertrain.report._carbon import carbon_view
from powertrain.report._load import load_inputs
from powertrain.report._sections import Card, Section, build_sections, headline

__all__ = ["ReportResult", "build_report"]

_NUMERIC = re.compile(r"^[-+]?[\d.,]+(e[-+]?\d+)?(%|x| [a-zµ]*[A-Z]?[a-zA-Z0-9]*| s)?$")


@dataclass(frozen=True)
class ReportResult:
    """Where the report went and what it holds."""

    html: Path
    markdown: Path
    sections: list[Section]
    cards: list[Card]
    carbon: dict[str, Any]

    @property
    def plot_count(self) -> int:
        """How many plots the HTML embeds."""
        return sum(len(s.plots) for s in self.sections)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("powertrain.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=True,
    )
    env.tests["numeric_cell"] = lambda cell: bool(_NUMERIC.match(str(cell)))
    env.filters["md"] = _markdown_cell
    env.filters["mdtext"] = _markdown_text
    return env


def _markdown_text(value: object) -> str:
    """Markdown text with HTML brackets escaped (Markdown renderers pass raw HTML through)."""
    return str(value).replace("<", "&lt;").replace(">", "&gt;")


def _markdown_cell(value: object) -> str:
    """A Markdown table cell: backslashes, pipes, HTML brackets and newlines escaped."""
    text = str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return _markdown_text(text)


def _writable(out: Path) -> list[Path]:
    """Create the report folder (and missing parents); returns the folders this call created."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"cannot write the report into {out}: it is a file, not a folder")
    try:
        created = make_folders(out, what="report folder")
    except OutputError as exc:
        raise ConfigError(str(exc)) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the report into {out}: not a writable folder")
    return created


def build_report(
    paths: list[str | Path],
    *,
    out: str | Path | None = None,
    settings: CarbonSettings | None = None,
    title: str | None = None,
) -> ReportResult:
    """Read runs and studies and write ``report.html`` and ``report.md`` into ``out``.

    Args:
        paths: Run directories, study folders (sweep, EAT study), or folders holding them.
        out: The report folder; default ``PATH/report`` for one path, ``report`` here for several.
        settings: Carbon settings for every figure; default: those each run was recorded with.
        title: The page title.

    Returns:
        A :class:`ReportResult` with both paths.

    Raises:
        ReportInputError: A path that is not a run or study.
        ConfigError: An output folder that cannot be written, or bad carbon settings.
    """
    settings = settings.validate() if settings is not None else None
    report = load_inputs(list(paths))
    folder = Path(out) if out is not None else (report.paths[0] / "report" if len(paths) == 1 else Path("report"))
    created = _writable(folder)
    try:
        return _write(report, folder, settings, title)
    except BaseException:
        for name in ("report.html", "report.md"):  # a half-written report is no report: nothing stays behind
            if created:
                (folder / name).unlink(missing_ok=True)
        remove_empty_folders(created)
        raise


def _write(report: Any, folder: Path, settings: CarbonSettings | None, title: str | None) -> ReportResult:
    carbon = carbon_view(report, settings)
    cards = headline(report, carbon)
    sections = build_sections(report, carbon)
    try:
        package_version = version("powertrain")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        package_version = "unknown"
    kinds = [f"{len(report.runs)} run(s)"] if report.runs else []
    kinds += [f"{s.kind} study {s.name}" for s in report.studies]
    context = {
        "title": title or "powertrain energy report",
        "subtitle": ", ".join(kinds)
        + f". Energy, accuracy and CO2e as measured; {_hardware_line(report)}; {_attribution_line(report)}",
        "cards": cards,
        "sections": sections,
        "version": package_version,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "inputs": [str(p) for p in report.paths],
        "html_name": "report.html",
        "plot_titles": [p.title for s in sections for p in s.plots],
    }
    env = _environment()
    html, markdown = folder / "report.html", folder / "report.md"
    try:
        write_atomic(html, env.get_template("report.html.j2").render(context))
        write_atomic(markdown, env.get_template("report.md.j2").render(context))
    except OSError as exc:
        raise ConfigError(f"cannot write the report into {folder}: {exc.strerror or exc}") from None
    return ReportResult(html=html, markdown=markdown, sections=sections, cards=cards, carbon=carbon.overall())


def _attribution_line(report: Any) -> str:
    """Whose energy the figures are: the runs' own, or the machines'; a mix is said loudly (it does not compare)."""
    summaries = [run.summary for run in report.runs]
    summaries += [t.run.summary for t in report.all_trials() if t.run is not None]
    scopes = sorted({attribution_scope((s.get("energy") or {}).get("attribution")) for s in summaries if s})
    if len(scopes) > 1:
        return f"MIXED attribution ({' and '.join(scopes)}): machine-wide and per-run joules do not compare"
    if scopes == ["machine"]:
        return "energy of the whole machine (not attributed to the runs)"
    return f"energy attributed to each run ({scopes[0]})" if scopes else "attribution unknown"


def _hardware_line(report: object) -> str:
    trials = report.all_trials()  # type: ignore[attr-defined]
    labels = sorted({t.hardware for t in trials})
    return "hardware: " + "; ".join(labels) if labels else "hardware unknown"
