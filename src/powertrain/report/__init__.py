"""Reports: one self-contained HTML page and a Markdown summary from run directories and study folders.

    from powertrain.report import build_report

    result = build_report(["runs/demo"], out="runs/demo/report")
    result.html, result.markdown

Inputs are read from disk only (run directories, a sweep's storage or ``results.json``, an EAT study's
``results.json``), never by running training code; :func:`register_loader` adds a kind of study and
:func:`register_section` its own plots and tables (drawn with :func:`new_figure` and :func:`to_plot`). Plots are drawn
with matplotlib's Agg canvas and embedded as PNG data URIs, every value is escaped by Jinja2's autoescape, and the
page loads nothing from the network. A path that is not a run or study raises :class:`ReportInputError`; an output
folder that cannot be written raises :class:`~powertrain.errors.ConfigError` (one line, exit status 2 in the CLI).
"""

from __future__ import annotations

from powertrain.report._figure import Plot, new_figure, to_plot
from powertrain.report._load import ReportInputError, load_inputs, register_loader
from powertrain.report._model import ReportInput, RunData, StudyData, Trial
from powertrain.report._sections import Table, register_section
from powertrain.report.build import ReportResult, build_report

# plug-in study kinds shipped with powertrain: the transfer and multitask studies (they register themselves)
from powertrain.report import _transfer_views as _transfer_views  # noqa: E402,F401  isort: skip

__all__ = [
    "Plot",
    "ReportInput",
    "ReportInputError",
    "ReportResult",
    "RunData",
    "StudyData",
    "Table",
    "Trial",
    "build_report",
    "load_inputs",
    "new_figure",
    "register_loader",
    "register_section",
    "to_plot",
]
