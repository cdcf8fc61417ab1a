"""Pages for the grid-support studies: frequency reserve and outages (self-contained HTML)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.io import to_html
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    from ersgrid.run.reserve import ReserveStudy
    from ersgrid.run.resilience import Outage
    from ersgrid.run.runner import RunResult
    from ersgrid.twin.parking import ParkedFleet

__all__ = ["outage_figures", "reserve_figures", "write_support_page"]


def reserve_figures(result: RunResult, study: ReserveStudy) -> list[go.Figure]:
    """Reserve offered over the run, and frequency with and without it per disturbance."""
    ts = result.timeseries
    offered = go.Figure(
        go.Scatter(
            x=ts.index,
            y=study.reserve_kw,
            mode="lines",
            line={"shape": "hv"},
            name="symmetric reserve",
        )
    )
    offered.update_layout(
        title="Symmetric reserve offered by the road [kW]", height=300, yaxis_title="kW"
    )
    figs = [offered]
    for case, event, with_road, without in study.events:
        fig = make_subplots(specs=[[{"secondary_y": True}]])
        fig.add_trace(
            go.Scatter(
                x=without.time_s, y=without.frequency_hz, name="without road", line={"dash": "dot"}
            ),
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(x=with_road.time_s, y=with_road.frequency_hz, name="with road reserve"),
            secondary_y=False,
        )
        fig.add_trace(
            go.Scatter(
                x=with_road.time_s,
                y=with_road.road_mw,
                name="road relief [MW]",
                line={"color": "green"},
            ),
            secondary_y=True,
        )
        fig.add_trace(
            go.Scatter(
                x=with_road.time_s,
                y=with_road.required_mw,
                name="required [MW]",
                line={"color": "grey", "dash": "dash"},
            ),
            secondary_y=True,
        )
        fig.update_layout(
            title=f"{event.name} ({case} step): nadir {event.nadir_hz:.3f} Hz with, "
            f"{event.nadir_without_hz:.3f} Hz without; activation {event.activation_lag_s:.1f} s "
            f"(limit {event.activation_time_s:g} s)",
            height=340,
            xaxis_title="time [s]",
        )
        fig.update_yaxes(title_text="Hz", secondary_y=False)
        fig.update_yaxes(title_text="MW", secondary_y=True)
        figs.append(fig)
    return figs


def outage_figures(result: RunResult, outage: Outage, fleet: ParkedFleet) -> list[go.Figure]:
    """Power of the islanded substation and the parked V2G around the outage."""
    ts = result.timeseries
    sub = outage.substation
    inside = outage.steps(pd.DatetimeIndex(ts.index))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ts.index, y=ts[f"road_power_{sub}_kw"], name="road power"))
    from ersgrid.scenario.layout import build_layout

    j = build_layout(result.scenario).sub_ids.index(sub)
    here = np.flatnonzero(np.asarray(fleet.substation) == j)
    fig.add_trace(
        go.Scatter(
            x=ts.index,
            y=fleet.power_kw[:, here].sum(axis=1),
            name="parked V2G power available",
            line={"dash": "dot"},
        )
    )
    start, end = ts.index[inside][0], ts.index[inside][-1]
    fig.add_vrect(x0=start, x1=end, fillcolor="red", opacity=0.12, annotation_text="outage")
    fig.update_layout(
        title=f"Substation {sub}: road power (negative = V2G to the island)",
        yaxis_title="kW",
        height=340,
    )
    return [fig]


def write_support_page(path: Path, title: str, figures: list[go.Figure]) -> Path:
    """One self-contained page with the figures (plotly inlined once)."""
    parts = [to_html(f, full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figures)]
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
        "</title><style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{''.join(parts)}</body></html>"
    )
    path.write_text(page, encoding="utf-8")
    return path
