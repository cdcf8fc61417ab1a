"""The page of ``ersgrid size``: the year's cost against each storage size (self-contained)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go

from ersgrid.report.support import write_support_page

if TYPE_CHECKING:
    from ersgrid.study.sizing import Sizing

__all__ = ["SIZE_LABELS", "sizing_figures", "write_sizing_page"]

SIZE_LABELS = {
    "storage_energy_kwh": "Storage energy per unit [kWh]",
    "storage_power_kw": "Storage power per unit [kW]",
    "year_peak_kw": "Peak import of the year [kW]",
}
"""How the page and the command name each size."""


def sizing_figures(sizing: Sizing) -> list[go.Figure]:
    """One figure per profiled size: the annual cost with that size fixed at each value and
    the rest re-optimised, the chosen size marked."""
    figures = []
    for name, points in sizing.profile.items():
        fig = go.Figure(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="lines+markers",
                name="annual cost, the rest re-optimised",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[sizing.sizes[name]],
                y=[sizing.annual_cost],
                mode="markers",
                marker={"size": 12, "symbol": "star"},
                name="chosen",
            )
        )
        fig.update_layout(
            title=f"Annual cost against {SIZE_LABELS[name].lower()}",
            xaxis_title=SIZE_LABELS[name],
            yaxis_title=f"{sizing.currency}/a",
            height=380,
        )
        figures.append(fig)
    return figures


def write_sizing_page(path: Path, sizing: Sizing) -> Path:
    """Write the profile page (plotly inlined once) to ``path``."""
    title = f"{sizing.scenario}: storage sizing over {len(sizing.typical.dates)} typical days"
    return write_support_page(path, title, sizing_figures(sizing))
