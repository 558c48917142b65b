"""Figure plumbing shared by the plots: one house style, and PNG bytes embedded as a data URI (no files, no network).

Figures are built with :class:`matplotlib.figure.Figure` directly (the Agg canvas), never through pyplot, so making a
report touches no global plotting state and needs no display.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass

from matplotlib.figure import Figure

__all__ = ["PALETTE", "Plot", "new_figure", "to_plot"]

PALETTE = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563",
           "#65a30d"]  # fmt: skip
_RC = {
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e7eb",
    "grid.linewidth": 0.8,
    "axes.edgecolor": "#9ca3af",
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "axes.axisbelow": True,
}


@dataclass(frozen=True)
class Plot:
    """A rendered plot: a section key, its title, a caption saying what it shows, and the PNG as a data URI."""

    key: str
    title: str
    caption: str
    data_uri: str
    width_px: int
    height_px: int


@contextlib.contextmanager
def new_figure(width_in: float = 9.1, height_in: float = 3.8, *, ncols: int = 1) -> Iterator[Figure]:
    """A figure in the house style, with ``ncols`` axes; draw inside the ``with`` block (the style applies there)."""
    import matplotlib
    from cycler import cycler

    with matplotlib.rc_context(dict(_RC, **{"axes.prop_cycle": cycler(color=PALETTE)})):
        fig = Figure(figsize=(width_in, height_in), dpi=110, layout="constrained")
        fig.subplots(1, ncols, squeeze=False)
        yield fig


def to_plot(fig: Figure, key: str, title: str, caption: str) -> Plot:
    """Render ``fig`` to PNG and wrap it as a :class:`Plot`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, facecolor="white")
    width, height = (int(v) for v in fig.get_size_inches() * 110)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Plot(key, title, caption, f"data:image/png;base64,{data}", width, height)
