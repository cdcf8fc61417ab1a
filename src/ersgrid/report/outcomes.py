"""What the runs delivered and broke: unmet energy by class, limit violations, differences."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ersgrid.report.common import Section, baseline_of, color_of, thin, time_title
from ersgrid.scenario.schema import VEHICLE_CLASSES

if TYPE_CHECKING:
    import pandas as pd

    from ersgrid.run.runner import RunResult

__all__ = [
    "VIOLATION_KINDS",
    "difference_section",
    "unmet_by_class",
    "unmet_section",
    "violations_section",
]

VIOLATION_KINDS: dict[str, str] = {
    "limit_violations_rating": "segment or substation rating (twin steps)",
    "limit_violations_import": "import limit (connection-steps)",
    "limit_violations_dr": "demand-response cap (connection-steps)",
    "limit_violations_export": "export limit (connection-steps)",
}
"""The kinds of limit violation the KPIs count, and how the report names them."""


def unmet_by_class(r: RunResult) -> pd.Series:
    """Energy the completed trips lacked at their exit target, by vehicle class [kWh]: the
    parts of the ``unmet_energy_kwh`` KPI (classes of the scenario, in schema order)."""
    classes = [c for c in VEHICLE_CLASSES if c in r.scenario.vehicles]
    by_class = r.trips.groupby("vehicle_class")["shortfall_kwh"].sum()
    return by_class.reindex(classes, fill_value=0.0).astype(float)


def unmet_section(results: list[RunResult]) -> Section:
    """Unmet energy by vehicle class, one bar per run and class."""
    fig = go.Figure()
    for n, r in enumerate(results):
        unmet = unmet_by_class(r)
        below = r.trips.groupby("vehicle_class")["shortfall_kwh"].apply(lambda s: (s > 1e-6).sum())
        below = below.reindex(unmet.index, fill_value=0)
        fig.add_trace(go.Bar(
            x=list(unmet.index), y=unmet.to_numpy(), name=r.strategy,
            marker={"color": color_of(n)},
            customdata=below.to_numpy(), hovertemplate="%{y:,.0f} kWh, %{customdata} trips",
        ))  # fmt: skip
    fig.update_layout(
        title="Energy missing at the exit target, by vehicle class", barmode="group",
        xaxis_title="vehicle class", yaxis_title="unmet energy [kWh]", height=340,
    )  # fmt: skip
    text = (
        "For each vehicle class, the energy the completed trips lacked when they left the "
        "road, against the exit target of their class (the bars add up to the "
        "'unmet energy' key figure; hover for the number of trips below target). A class "
        "that falls short under every strategy is limited by the road's power or the time "
        "its vehicles spend on it, not by the planner."
    )
    return Section("Unmet energy by vehicle class", text, [fig])


def violations_section(results: list[RunResult]) -> Section:
    """Hard-limit violations by kind, one bar per run and kind."""
    fig = go.Figure()
    total = 0
    for n, r in enumerate(results):
        counts = [int(r.kpis.get(key, 0)) for key in VIOLATION_KINDS]
        total += sum(counts)
        fig.add_trace(go.Bar(
            x=list(VIOLATION_KINDS.values()), y=counts, name=r.strategy,
            marker={"color": color_of(n)}, text=counts, textposition="outside",
        ))  # fmt: skip
    fig.update_layout(
        title="Limit violations by kind" + (" (none in any run)" if total == 0 else ""),
        barmode="group", xaxis_title="limit", yaxis_title="violations [-]", height=340,
        yaxis={"rangemode": "tozero"},
    )  # fmt: skip
    text = (
        "How often each run broke a hard limit: a segment's or substation's rating (counted in "
        "twin steps), a connection's import limit, a demand-response cap or the export limit "
        "(counted in connection-steps of 15 min). A controlled strategy should show none; an "
        "uncontrolled road may break the import limit at its peaks."
    )
    return Section("Limit violations", text, [fig])


def difference_section(results: list[RunResult]) -> Section | None:
    """Each strategy's grid import and stationary storage energy minus the baseline's, one
    panel per strategy; None with a single run."""
    if len(results) < 2:
        return None
    base = baseline_of(results)
    others = [(n, r) for n, r in enumerate(results) if r is not base]
    fig = make_subplots(
        rows=len(others),
        cols=1,
        shared_xaxes=True,
        shared_yaxes=True,
        vertical_spacing=0.25 / len(others),
        subplot_titles=[f"{r.strategy} − {base.strategy}" for _, r in others],
    )
    cols = ["grid_import_kw", "grid_export_kw"]
    ref = base.timeseries[cols]
    for row, (n, r) in enumerate(others, start=1):
        d = thin(r.timeseries[cols] - ref)
        fig.add_trace(go.Scatter(
            x=d.index, y=d["grid_import_kw"], name=f"grid import ({r.strategy})", mode="lines",
            fill="tozeroy", line={"color": color_of(n), "shape": "hv", "width": 1},
        ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=d.index, y=-d["grid_export_kw"], name="export (below zero: more export)",
            mode="lines", line={"color": "black", "dash": "dot", "shape": "hv", "width": 1},
            showlegend=row == 1,
        ), row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text="Δ power [kW]", row=row, col=1)
    fig.update_xaxes(title_text=time_title(base), row=len(others), col=1)
    fig.update_layout(title=f"Grid import against {base.strategy}, step by step",
                      height=200 * len(others) + 120, margin={"t": 80, "b": 40})  # fmt: skip
    text = (
        f"One panel per strategy: its grid import minus the import of {base.strategy} on the "
        "same draws, in each 15-min step (filled; below zero is less import), and its export "
        "difference with the sign turned (dotted; below zero is more export, above less). "
        "Import moved out of the dear hours into cheap or sunny ones shows as dips and bumps "
        "that roughly cancel; a strategy that only shaves peaks shows dips alone."
    )
    return Section(f"Differences against {base.strategy}", text, [fig])
