"""What every report section shares: the section record, colours, plotting-only thinning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ersgrid.run.runner import RunResult

__all__ = ["MAX_PLOT_POINTS", "PALETTE", "Section", "baseline_of", "color_of", "thin", "time_title"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
"""One colour per run, in the order the runs are given."""

MAX_PLOT_POINTS = 2000
"""Longest series a plot draws [points]; longer ones are averaged over blocks for plotting."""


@dataclass(frozen=True)
class Section:
    """One part of a report: a heading, how to read it, and its plots.

    Attributes
    ----------
    title : str
        The heading.
    how_to_read : str
        A short paragraph (plain text) on what the plots show and how to read them.
    figures : list of Figure
        The plots, in order (a section without plots is left out of the page).
    """

    title: str
    how_to_read: str
    figures: list[go.Figure] = field(default_factory=list)


def color_of(n: int) -> str:
    """The colour of the ``n``-th run."""
    return PALETTE[n % len(PALETTE)]


def thin(frame: pd.DataFrame, max_points: int = MAX_PLOT_POINTS) -> pd.DataFrame:
    """``frame`` as plotted: unchanged if short, else the mean of consecutive blocks of rows
    (labelled by each block's first time), at most ``max_points`` rows. For drawing only:
    every figure of the report is read from the run's full series."""
    n = len(frame)
    if n <= max_points:
        return frame
    block = -(-n // max_points)
    groups = pd.RangeIndex(n) // block
    out = frame.reset_index(drop=True).groupby(groups).mean()
    out.index = frame.index[::block][: len(out)]
    return out


def time_title(result: RunResult) -> str:
    """The title of a time axis: local time of the scenario."""
    return f"time [{result.scenario.timezone}]"


def baseline_of(results: list[RunResult]) -> RunResult:
    """The run others are compared against: ``uncontrolled`` if it ran, else the first."""
    return next((r for r in results if r.strategy.split("@")[0] == "uncontrolled"), results[0])
