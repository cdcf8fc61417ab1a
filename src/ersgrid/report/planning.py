"""Plots for comparing planning strategies: stationary storage and the money of each run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = ["margin_figure", "storage_figure"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def storage_figure(results: list[RunResult]) -> go.Figure:
    """Energy stored in the substations' batteries over time, one line per run."""
    fig = go.Figure()
    for n, r in enumerate(results):
        ts = r.timeseries
        if "storage_energy_kwh" not in ts:
            continue
        fig.add_trace(go.Scatter(
            x=ts.index, y=ts["storage_energy_kwh"], name=r.strategy, mode="lines",
            line={"color": _PALETTE[n % len(_PALETTE)]},
        ))  # fmt: skip
    fig.update_layout(
        title="Energy in stationary batteries (all substations)", yaxis_title="kWh", height=320
    )
    return fig


def margin_figure(results: list[RunResult]) -> go.Figure:
    """Revenue, energy cost, margin and objective of each run, side by side."""
    cur = results[0].scenario.currency
    keys = ("revenue", "energy_cost", "margin", "objective")
    fig = go.Figure()
    for n, r in enumerate(results):
        fig.add_trace(go.Bar(
            x=list(keys), y=[r.kpis.get(k, 0.0) for k in keys], name=r.strategy,
            marker={"color": _PALETTE[n % len(_PALETTE)]},
        ))  # fmt: skip
    fig.update_layout(
        title="Money of each strategy (objective: lower is better)", barmode="group",
        yaxis_title=cur, height=340,
    )  # fmt: skip
    return fig
