"""Where the road's energy came from (dispatch stack) and what the stationary storage did."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ersgrid.report.common import Section, color_of, thin, time_title

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = [
    "SINKS",
    "SOURCES",
    "connection_dispatch",
    "dispatch_section",
    "run_dispatch",
    "storage_section",
]

SOURCES: dict[str, tuple[str, str]] = {
    "pv_kw": ("PV", "#f2c400"),
    "wind_kw": ("wind", "#17becf"),
    "storage_discharge_kw": ("storage discharge", "#9467bd"),
    "v2g_kw": ("V2G", "#2ca02c"),
    "grid_import_kw": ("grid import", "#7f7f7f"),
}
"""What supplies a connection (drawn above zero, local sources at the bottom): column, label
and colour."""

SINKS: dict[str, tuple[str, str]] = {
    "other_load_kw": ("other loads", "#8c564b"),
    "storage_charge_kw": ("storage charging", "#c5b0d5"),
    "grid_export_kw": ("export", "#1f77b4"),
    "curtailed_kw": ("curtailment", "#d62728"),
}
"""Where supply went other than the road (drawn below zero): column, label and colour."""

ROAD = "road_load_kw"

DRAWN_KW = 1e-3
"""A series never above this in any step is left out of the stack (and its legend) [kW]."""


def run_dispatch(r: RunResult) -> pd.DataFrame:
    """The corridor's dispatch of one run [kW], one row per planning step.

    Columns: :data:`SOURCES` (positive), :data:`SINKS` (positive, drawn below zero) and
    ``road_load_kw``, the road's charging power at the grid side (V2G counted as a source,
    not netted), so that ``Σ sources − Σ sinks = road_load_kw`` in every step.
    """
    ts = r.timeseries
    zero = np.zeros(len(ts))
    storage = ts["storage_power_kw"].to_numpy()
    v2g = ts["v2g_discharge_kw"].to_numpy()
    return pd.DataFrame(
        {
            "grid_import_kw": ts["grid_import_kw"].to_numpy(),
            "pv_kw": ts["pv_kw"].to_numpy() if "pv_kw" in ts else zero,
            "wind_kw": ts["wind_kw"].to_numpy() if "wind_kw" in ts else zero,
            "storage_discharge_kw": np.maximum(-storage, 0.0),
            "v2g_kw": v2g,
            "other_load_kw": ts["other_load_kw"].to_numpy(),
            "storage_charge_kw": np.maximum(storage, 0.0),
            "grid_export_kw": ts["grid_export_kw"].to_numpy(),
            "curtailed_kw": ts["curtailed_kw"].to_numpy(),
            ROAD: ts["road_power_kw"].to_numpy() + v2g,
        },
        index=ts.index,
    )


def connection_dispatch(r: RunResult) -> dict[str, pd.DataFrame]:
    """The dispatch of each grid connection [kW], by substation id, as in
    :func:`run_dispatch`; the road's load is its net load there (V2G is metered for the
    corridor, not per connection, so ``v2g_kw`` is zero and V2G nets the road load)."""
    sub_ids = list(r.world.layout.sub_ids)
    plants = r.world.plants
    pv = plants.per_connection(sub_ids, "pv")
    wind = plants.per_connection(sub_ids, "wind")
    out = {}
    for j, sid in enumerate(sub_ids):
        storage = r.storage_kw[:, j]
        out[sid] = pd.DataFrame(
            {
                "grid_import_kw": r.import_kw[:, j],
                "pv_kw": pv[:, j],
                "wind_kw": wind[:, j],
                "storage_discharge_kw": np.maximum(-storage, 0.0),
                "v2g_kw": np.zeros(len(storage)),
                "other_load_kw": r.energy.other_load_kw[:, j],
                "storage_charge_kw": np.maximum(storage, 0.0),
                "grid_export_kw": r.export_kw[:, j],
                "curtailed_kw": r.curtailed_kw[:, j],
                ROAD: r.road_sub_kw[:, j],
            },
            index=r.timeseries.index,
        )
    return out


def _stack(fig: go.Figure, frame: pd.DataFrame, row: int, legend: set[str], road: str) -> None:
    """Draw one panel; ``legend`` holds the series already in the legend (updated)."""
    d = thin(frame)
    for col, (name, color) in SOURCES.items():
        if not (d[col].abs() > DRAWN_KW).any():
            continue
        fig.add_trace(go.Scatter(
            x=d.index, y=d[col], name=name, stackgroup="supply", mode="lines",
            line={"width": 0.5, "color": color, "shape": "hv"}, legendgroup=name,
            showlegend=name not in legend,
        ), row=row, col=1)  # fmt: skip
        legend.add(name)
    for col, (name, color) in SINKS.items():
        if not (d[col].abs() > DRAWN_KW).any():
            continue
        fig.add_trace(go.Scatter(
            x=d.index, y=-d[col], name=f"{name} (below zero)", stackgroup="sink", mode="lines",
            line={"width": 0.5, "color": color, "shape": "hv"}, legendgroup=name,
            showlegend=name not in legend,
        ), row=row, col=1)  # fmt: skip
        legend.add(name)
    fig.add_trace(go.Scatter(
        x=d.index, y=d[ROAD], name=road, mode="lines",
        line={"color": "black", "width": 1.5, "shape": "hv"}, legendgroup="road",
        showlegend=road not in legend,
    ), row=row, col=1)  # fmt: skip
    legend.add(road)


def _dispatch_figure(
    frames: dict[str, pd.DataFrame], title: str, road: str, r: RunResult
) -> go.Figure:
    names = list(frames)
    fig = make_subplots(
        rows=len(names),
        cols=1,
        shared_xaxes=True,
        shared_yaxes=True,
        vertical_spacing=0.25 / max(len(names), 1),
        subplot_titles=names,
    )
    legend: set[str] = set()
    for row, name in enumerate(names, start=1):
        _stack(fig, frames[name], row, legend, road)
        fig.update_yaxes(title_text="power [kW]", row=row, col=1)
    fig.update_xaxes(title_text=time_title(r), row=len(names), col=1)
    fig.update_layout(title=title, height=230 * len(names) + 120, margin={"t": 80, "b": 40})
    return fig


def dispatch_section(results: list[RunResult]) -> Section:
    """The dispatch stack of each run (one panel per run), and of each connection of a single
    run with more than one connection."""
    first = results[0]
    figures = [
        _dispatch_figure(
            {r.strategy: run_dispatch(r) for r in results},
            "Dispatch stack of the corridor: sources above zero, other uses below",
            "road load (charging, grid side)",
            first,
        )
    ]
    if len(results) == 1 and len(first.world.layout.sub_ids) > 1:
        per = connection_dispatch(first)
        figures.append(_dispatch_figure(
            {f"connection {sid}" : frame for sid, frame in per.items()},
            f"Dispatch stack of each grid connection ({first.strategy})",
            "road load (net of V2G)", first,
        ))  # fmt: skip
    text = (
        "Each panel stacks, above zero, what supplied the road's connections in each 15-min "
        "step (grid import, PV, wind, storage discharge, V2G) and, below zero, where supply "
        "went other than the road (the connections' other loads, storage charging, export, "
        "curtailed renewables). The black line is the road's load: the height of the stack "
        "above zero minus the depth of the stack below zero equals it in every step. A "
        "controlled strategy shows as import moved to cheap hours, storage discharge under "
        "the peaks and less export or curtailment."
    )
    return Section("Dispatch stack", text, figures)


def _capacity_kwh(r: RunResult) -> float:
    spec = r.scenario.storage
    if spec is None:
        return 0.0
    subs = r.world.layout.sub_ids
    units = sum(1 for s in subs if spec.substations is None or s in spec.substations)
    return float(units * spec.energy_kwh)


def storage_section(results: list[RunResult]) -> Section | None:
    """Power and state of charge of the stationary batteries (all units), one line per run;
    None without storage."""
    first = results[0]
    capacity = _capacity_kwh(first)
    spec = first.scenario.storage
    if spec is None or capacity <= 0.0:
        return None
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.1,
        subplot_titles=[
            "Power, charging positive",
            f"State of charge ({capacity:,.0f} kWh in all)",
        ],
    )
    for n, r in enumerate(results):
        d = thin(r.timeseries[["storage_power_kw", "storage_energy_kwh"]])
        fig.add_trace(go.Scatter(
            x=d.index, y=d["storage_power_kw"], name=r.strategy, mode="lines",
            line={"color": color_of(n), "shape": "hv", "width": 1.5}, legendgroup=r.strategy,
        ), row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=d.index, y=d["storage_energy_kwh"] / capacity, name=r.strategy, mode="lines",
            line={"color": color_of(n), "width": 1.5}, legendgroup=r.strategy,
            showlegend=False,
        ), row=2, col=1)  # fmt: skip
    for level in (spec.soc_min, spec.soc_max):
        fig.add_hline(y=level, line_dash="dash", line_color="black", row=2, col=1)
    fig.update_yaxes(title_text="power [kW]", row=1, col=1)
    fig.update_yaxes(title_text="state of charge [-]", range=[0.0, 1.0], row=2, col=1)
    fig.update_xaxes(title_text=time_title(first), row=2, col=1)
    fig.update_layout(title="Stationary storage", height=560, margin={"t": 80, "b": 40})
    text = (
        "Top: the batteries' power at the grid side, positive while charging, negative while "
        "discharging. Bottom: the energy stored over the nameplate capacity of all units; the "
        f"dashed lines are the allowed window {spec.soc_min:g}–{spec.soc_max:g}. A strategy "
        "that uses its storage charges in cheap or sunny hours and empties it under the "
        "peaks; a flat line is storage left idle."
    )
    return Section("Stationary storage", text, [fig])
