"""Report plots of the grid check and the renewable accounting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ersgrid.report.common import time_title

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = ["GRID_KPI_LABELS", "grid_figures"]

GRID_KPI_LABELS: dict[str, str] = {
    "renewable_kwh": "Local renewables available [kWh]",
    "renewable_used_kwh": "Local renewables used by the road [kWh]",
    "renewable_exported_kwh": "Local renewables exported [kWh]",
    "curtailed_kwh": "Local renewables curtailed [kWh]",
    "renewable_share": "Road energy from local renewables [-]",
    "voltage_violations": "Voltage violations, bus-steps [-]",
    "loading_violations": "Loading violations, branch-steps [-]",
    "min_voltage_pu": "Lowest bus voltage [p.u.]",
    "max_loading_pct": "Highest line/transformer loading [%]",
    "planned_network_limits": "Network limits the plan acted on (voltages, loadings) [-]",
    "planned_network_slack_steps": "Element-steps planned over a limit, unavoidable [-]",
}
"""Labels of the grid and renewable KPIs in the report's table."""


def _voltage_figure(r: RunResult) -> go.Figure:
    ts = r.timeseries
    grid = r.scenario.grid
    assert grid is not None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ts.index, y=ts["grid_max_voltage_pu"], name="highest bus",
                             line={"color": "#ff7f0e"}))  # fmt: skip
    fig.add_trace(go.Scatter(x=ts.index, y=ts["grid_min_voltage_pu"], name="lowest bus",
                             line={"color": "#1f77b4"}))  # fmt: skip
    for conn in grid.connections:
        col = f"grid_voltage_{conn.substation}_pu"
        fig.add_trace(go.Scatter(x=ts.index, y=ts[col], name=f"{conn.substation} ({conn.bus})",
                                 line={"width": 1, "dash": "dot"}))  # fmt: skip
    for level in (grid.voltage_min_pu, grid.voltage_max_pu):
        fig.add_hline(y=level, line_dash="dash", line_color="black")
    fig.update_layout(
        title=f"Bus voltages against the band {grid.voltage_min_pu}–{grid.voltage_max_pu} p.u. "
        f"({grid.network}, {int(ts['grid_voltage_violations'].sum())} bus-steps outside)"
        f"<br><sub>{_planner_sees(r)}</sub>",
        yaxis_title="voltage [p.u.]", height=360,
    )  # fmt: skip
    return fig


def _planner_sees(r: RunResult) -> str:
    """Which network limits the run's plans acted on, and which only the power flow saw."""
    watched = r.kpis.get("planned_network_limits")
    if not watched:
        return (f"{r.strategy} does not see the network: every voltage and loading limit is "
                "seen only by the power flow after the run")  # fmt: skip
    slack = int(r.kpis.get("planned_network_slack_steps") or 0)
    return (f"{r.strategy} planned within {watched} linearised limits (bus voltages, line and "
            f"transformer loadings; {slack} element-steps planned over one, unavoidable); "
            "the power flow checks the result exactly")  # fmt: skip


def _loading_figure(r: RunResult) -> go.Figure:
    ts = r.timeseries
    grid = r.scenario.grid
    assert grid is not None
    check = r.grid
    if check is not None:
        res = check.result
        z = np.concatenate([res.line_loading_pct, res.trafo_loading_pct], axis=1).T
        names = [*check.line_names, *check.trafo_names]
        finite = z[np.isfinite(z)]
        fig = go.Figure(go.Heatmap(
            x=ts.index, y=names, z=z, colorscale="RdYlGn_r", zmin=0,
            zmax=max(grid.loading_max_pct * 1.2, float(finite.max()) if finite.size else 0.0),
            colorbar={"title": "loading [%]"},
        ))  # fmt: skip
        over = int(ts["grid_loading_violations"].sum())
        fig.update_layout(
            title=f"Loading of each line and transformer ({over} branch-steps above "
            f"{grid.loading_max_pct:g} %)",
            height=max(300, 18 * len(names) + 120),
            xaxis_title=time_title(r),
        )
        return fig
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=ts.index, y=ts["grid_max_line_loading_pct"], name="most loaded line")
    )
    fig.add_trace(go.Scatter(x=ts.index, y=ts["grid_max_trafo_loading_pct"],
                             name="most loaded transformer"))  # fmt: skip
    fig.add_hline(y=grid.loading_max_pct, line_dash="dash", line_color="black")
    fig.update_layout(title="Highest loadings", yaxis_title="loading [%]", height=320)
    return fig


def _renewable_figure(r: RunResult) -> go.Figure:
    ts = r.timeseries
    fig = make_subplots(specs=[[{"secondary_y": False}]])
    parts = (
        ("renewable_used_kw", "into the road", "#2ca02c"),
        ("renewable_other_kw", "other loads", "#17becf"),
        ("renewable_exported_kw", "exported", "#9467bd"),
        ("curtailed_kw", "curtailed", "#d62728"),
    )
    for col, name, color in parts:
        fig.add_trace(go.Scatter(x=ts.index, y=ts[col], name=name, stackgroup="ren",
                                 line={"width": 0.5, "color": color}))  # fmt: skip
    fig.add_trace(go.Scatter(x=ts.index, y=ts["road_power_kw"], name="road power",
                             line={"color": "black", "width": 1}))  # fmt: skip
    share = r.kpis.get("renewable_share")
    share_txt = f", {share:.1%} of the road's energy" if isinstance(share, float) else ""
    fig.update_layout(title=f"Local renewables: where they go{share_txt}", yaxis_title="power [kW]",
                      height=340)  # fmt: skip
    return fig


def grid_figures(results: list[RunResult]) -> list[go.Figure]:
    """The grid and renewable plots of the first run (none if it has neither)."""
    r = results[0]
    figures = []
    if r.kpis.get("renewable_kwh") and "renewable_used_kw" in r.timeseries:
        figures.append(_renewable_figure(r))
    if r.scenario.grid is not None and "grid_min_voltage_pu" in r.timeseries:
        figures += [_voltage_figure(r), _loading_figure(r)]
    return figures
