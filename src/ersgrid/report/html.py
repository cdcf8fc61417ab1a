"""A self-contained HTML report of one or more runs (plotly inlined: opens with no network)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.io import to_html
from plotly.subplots import make_subplots

from ersgrid.report.grid import GRID_KPI_LABELS, grid_figures

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = ["KPI_LABELS", "write_report"]

KPI_LABELS: dict[str, str] = {
    "energy_delivered_kwh": "Energy into batteries [kWh]",
    "grid_import_kwh": "Grid import [kWh]",
    "grid_export_kwh": "Grid export [kWh]",
    "losses_kwh": "Transfer losses [kWh]",
    "peak_import_kw": "Peak import, 15-min mean [kW]",
    "energy_cost": "Energy cost [{cur}]",
    "cost_per_kwh_delivered": "Cost per kWh delivered [{cur}/kWh]",
    "co2_kg": "CO2 [kg]",
    "trips": "Trips completed [-]",
    "unmet_energy_kwh": "Unmet energy to exit targets [kWh]",
    "trips_below_target": "Trips below exit target [-]",
    "limit_violations": "Limit violations, every kind [-]",
    "limit_violations_import": "Connection-steps above the import limit [-]",
    "limit_violations_dr": "Connection-steps above a DR cap [-]",
    "limit_violations_export": "Connection-steps exporting past the limit [-]",
    "limit_violations_rating": "Twin steps above a segment or substation rating [-]",
    "import_cost": "Grid energy bought [{cur}]",
    "stored_energy_value": "Value of the energy the batteries gained [{cur}]",
    "revenue": "Revenue from vehicles [{cur}]",
    "margin": "Margin (revenue − energy cost) [{cur}]",
    "objective": "Objective, realised (lower is better) [{cur}]",
    "storage_discharged_kwh": "Storage discharged [kWh]",
    "fallbacks": "Planner fallbacks [-]",
    **GRID_KPI_LABELS,
}

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 100 else f"{value:,.0f}"
    return html.escape(str(value))


def _kpi_table(results: list[RunResult], labels: dict[str, str] = KPI_LABELS) -> str:
    cur = results[0].scenario.currency
    head = "".join(f"<th>{html.escape(r.strategy)}</th>" for r in results)
    rows = []
    for key, label in labels.items():
        cells = "".join(f"<td>{_fmt(r.kpis.get(key, ''))}</td>" for r in results)
        rows.append(f"<tr><th scope='row'>{html.escape(label.format(cur=cur))}</th>{cells}</tr>")
    return (
        f"<table><thead><tr><th>KPI</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _power_figure(results: list[RunResult]) -> go.Figure:
    first = results[0]
    subs = [c[len("road_power_") : -len("_kw")] for c in first.timeseries.columns
            if c.startswith("road_power_") and c != "road_power_kw"]  # fmt: skip
    fig = make_subplots(
        rows=len(subs), cols=1, shared_xaxes=True, vertical_spacing=0.04,
        subplot_titles=[f"Substation {s}: road power against rating" for s in subs],
    )  # fmt: skip
    for row, sid in enumerate(subs, start=1):
        for n, r in enumerate(results):
            ts = r.timeseries
            fig.add_trace(go.Scatter(
                x=ts.index, y=ts[f"road_power_{sid}_kw"], name=f"{r.strategy}", mode="lines",
                line={"color": _PALETTE[n % len(_PALETTE)], "width": 1.5},
                legendgroup=r.strategy, showlegend=row == 1,
            ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=first.timeseries.index, y=first.timeseries[f"road_limit_{sid}_kw"],
            name="rating / limit", mode="lines", line={"color": "black", "dash": "dash"},
            legendgroup="limit", showlegend=row == 1,
        ), row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text="kW", row=row, col=1)
    fig.update_layout(height=220 * len(subs) + 80, margin={"t": 40, "b": 30})
    return fig


def _import_limit_figure(results: list[RunResult]) -> go.Figure | None:
    """Each connection's import against its import limit (and any DR cap); None when no
    connection has a limit."""
    first = results[0]
    subs = [c[len("import_limit_") : -len("_kw")] for c in first.timeseries.columns
            if c.startswith("import_limit_")]  # fmt: skip
    subs = [s for s in subs if first.timeseries[f"import_limit_{s}_kw"].notna().any()]
    if not subs:
        return None
    fig = make_subplots(
        rows=len(subs), cols=1, shared_xaxes=True, vertical_spacing=0.04,
        subplot_titles=[f"Connection {s}: grid import against its import limit" for s in subs],
    )  # fmt: skip
    for row, sid in enumerate(subs, start=1):
        for n, r in enumerate(results):
            ts = r.timeseries
            fig.add_trace(go.Scatter(
                x=ts.index, y=ts[f"grid_import_{sid}_kw"], name=r.strategy, mode="lines",
                line={"color": _PALETTE[n % len(_PALETTE)], "width": 1.5, "shape": "hv"},
                legendgroup=r.strategy, showlegend=row == 1,
            ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=first.timeseries.index, y=first.timeseries[f"import_limit_{sid}_kw"],
            name="import limit (with DR caps)", mode="lines",
            line={"color": "black", "dash": "dash", "shape": "hv"}, legendgroup="limit",
            showlegend=row == 1,
        ), row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text="kW", row=row, col=1)
    fig.update_layout(height=200 * len(subs) + 80, margin={"t": 40, "b": 30})
    return fig


def _price_figure(results: list[RunResult]) -> go.Figure:
    r = results[0]
    ts = r.timeseries
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=ts.index, y=ts["price_per_kwh"], name="price", mode="lines",
                             line={"shape": "hv"}), secondary_y=False)  # fmt: skip
    fig.add_trace(go.Scatter(x=ts.index, y=ts["co2_kg_per_kwh"], name="CO2 intensity",
                             mode="lines", line={"dash": "dot"}), secondary_y=True)  # fmt: skip
    fig.update_yaxes(title_text=f"{r.scenario.currency}/kWh", secondary_y=False)
    fig.update_yaxes(
        title_text="kg CO2/kWh", secondary_y=True, rangemode="tozero",
        range=[0.0, 1.2 * float(ts["co2_kg_per_kwh"].max()) + 1e-3],
    )  # fmt: skip
    fig.update_layout(title="Grid energy price and CO2 intensity", height=320)
    return fig


def _soc_figure(results: list[RunResult]) -> go.Figure:
    fig = go.Figure()
    for n, r in enumerate(results):
        fig.add_trace(go.Histogram(
            x=r.trips["soc_exit"], name=r.strategy, opacity=0.6, xbins={"size": 0.025},
            marker={"color": _PALETTE[n % len(_PALETTE)]},
        ))  # fmt: skip
    targets = sorted(set(results[0].trips["soc_target"].round(3)))
    for t in targets:
        fig.add_vline(x=t, line_dash="dash", annotation_text=f"target {t:.2f}")
    fig.update_layout(
        title="State of charge at exit (completed trips)", barmode="overlay",
        xaxis_title="state of charge [-]", yaxis_title="trips", height=340,
    )  # fmt: skip
    return fig


def _road_figure(results: list[RunResult]) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for n, r in enumerate(results):
        ts = r.timeseries
        fig.add_trace(go.Scatter(x=ts.index, y=ts["grid_import_kw"], name=f"{r.strategy} import",
                                 line={"color": _PALETTE[n % len(_PALETTE)]}),
                      secondary_y=False)  # fmt: skip
    ts = results[0].timeseries
    fig.add_trace(go.Scatter(x=ts.index, y=ts["vehicles_on_road"], name="ERS vehicles on road",
                             line={"color": "grey", "dash": "dot"}), secondary_y=True)  # fmt: skip
    fig.update_yaxes(title_text="kW", secondary_y=False)
    fig.update_yaxes(title_text="vehicles", secondary_y=True)
    fig.update_layout(title="Grid import of the road and ERS vehicles on it", height=340)
    return fig


def _traffic_figure(results: list[RunResult]) -> list[go.Figure]:
    """ERS vehicles that entered in each step against the forecast the planners used (the
    forecast a run stored, ``forecast_traffic_<class>_veh``, e.g. mpc's learned P50; else the
    traffic model's expectation after the price response); empty if the run kept neither."""
    import numpy as np

    from ersgrid.scenario.schema import VEHICLE_CLASSES
    from ersgrid.world.traffic import ers_fraction

    first = results[0]
    ts = first.timeseries
    arrivals = first.world.arrivals
    volume = first.world.expected_volume
    # the forecast a planner stored (mpc: learned P50) wins over the expected profile
    planner = next((r for r in results if "forecast_traffic_car_veh" in r.timeseries), None)
    step_s = 900.0
    fig = go.Figure()
    for c, name in enumerate(VEHICLE_CLASSES):
        if name not in first.scenario.vehicles:
            continue
        mask = arrivals.vclass == c
        actual = np.bincount((arrivals.time_s[mask] // step_s).astype(int), minlength=len(ts))
        share = ers_fraction(first.scenario, name)
        stored = f"forecast_traffic_{name}_veh"
        if planner is not None and stored in planner.timeseries:
            expected = planner.timeseries[stored].to_numpy() * share
        else:
            expected = (volume[f"{name}_A"] + volume[f"{name}_B"]).to_numpy() * share
        color = _PALETTE[c % len(_PALETTE)]
        fig.add_trace(go.Bar(x=ts.index, y=actual[: len(ts)], name=f"{name}: entered",
                             marker={"color": color}, opacity=0.45))  # fmt: skip
        source = "expected" if planner is None else planner.strategy
        fig.add_trace(go.Scatter(x=ts.index, y=expected, name=f"{name}: forecast ({source})",
                                 line={"color": color}))  # fmt: skip
    fig.update_layout(
        title="ERS vehicles entering per 15 min: realised against the planners' forecast",
        yaxis_title="vehicles", barmode="overlay", height=340,
    )  # fmt: skip
    return [fig]


RENEWABLE_LABELS = {"pv": "PV", "wind": "Wind"}


def _renewables_figure(results: list[RunResult]) -> list[go.Figure]:
    """PV and wind output: the P50 forecast a planner used with its P10–P90 band against the
    realised output (``forecast_<kind>_p50_kw`` and ``<kind>_kw`` in the time series); empty
    if no run stored a renewable forecast."""
    planner = next(
        (r for r in results
         if any(f"forecast_{k}_p50_kw" in r.timeseries for k in RENEWABLE_LABELS)),
        None,
    )  # fmt: skip
    if planner is None:
        return []
    ts = planner.timeseries
    kinds = [k for k in RENEWABLE_LABELS if f"forecast_{k}_p50_kw" in ts and f"{k}_kw" in ts]
    fig = make_subplots(
        rows=len(kinds), cols=1, shared_xaxes=True, vertical_spacing=0.08,
        subplot_titles=[f"{RENEWABLE_LABELS[k]}: forecast used by {planner.strategy} "
                        "against actual" for k in kinds],
    )  # fmt: skip
    for row, kind in enumerate(kinds, start=1):
        color = _PALETTE[(row - 1) % len(_PALETTE)]
        first = row == 1
        fig.add_trace(go.Scatter(
            x=ts.index, y=ts[f"forecast_{kind}_p90_kw"], mode="lines", line={"width": 0},
            name="P10–P90", legendgroup="band", showlegend=False, hoverinfo="skip",
        ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=ts.index, y=ts[f"forecast_{kind}_p10_kw"], mode="lines", line={"width": 0},
            fill="tonexty", fillcolor="rgba(31,119,180,0.2)", name="forecast P10–P90",
            legendgroup="band", showlegend=first,
        ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=ts.index, y=ts[f"forecast_{kind}_p50_kw"], mode="lines", name="forecast P50",
            line={"color": color, "dash": "dash"}, legendgroup="p50", showlegend=first,
        ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=ts.index, y=ts[f"{kind}_kw"], mode="lines", name="actual",
            line={"color": "black", "width": 1.5}, legendgroup="actual", showlegend=first,
        ), row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text="kW", row=row, col=1)
    fig.update_layout(
        title="Renewable output: the planner's forecast (issued before each plan) against actual",
        height=260 * len(kinds) + 100,
    )
    return [fig]


def _economics_section(results: list[RunResult]) -> str:
    """The year's economics of each run (``economics.json``), when they were computed."""
    from ersgrid.study.economics import ECONOMICS_LABELS

    if not all("npv" in r.kpis for r in results):
        return ""
    return (
        "<h2>Economics, a year</h2><p>The run scaled to a year; capital, NPV and LCOE as in "
        "economics.json (<code>ersgrid economics</code> prints every asset and party).</p>"
        + _kpi_table(results, ECONOMICS_LABELS)
    )


def write_report(
    results: list[RunResult], path: Path, extra_figures: list[go.Figure] | None = None
) -> Path:
    """Write one HTML page with the KPI table and plots of every run in ``results``.

    Runs must share a scenario and time index (e.g. strategies compared on one scenario).
    """
    first = results[0]
    sc = first.scenario
    limits = _import_limit_figure(results)
    figures = [_road_figure(results), _power_figure(results), *([limits] if limits else []),
               _price_figure(results),
               _soc_figure(results), *_traffic_figure(results), *_renewables_figure(results),
               *grid_figures(results),
               *(extra_figures or [])]  # fmt: skip
    parts = [
        to_html(fig, full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
        for i, fig in enumerate(figures)
    ]
    title = f"ersgrid — {sc.name} — {', '.join(r.strategy for r in results)}"
    meta = (
        f"{html.escape(sc.description)}<br>Start {html.escape(str(first.kpis['start']))}, "
        f"{first.kpis['days']} day(s), seed {sc.seed}, currency {sc.currency}, "
        f"time zone {html.escape(sc.timezone)}"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: right; }}
th[scope=row] {{ text-align: left; font-weight: normal; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{meta}</p>
<p>Sign convention: power drawn from the grid by the road is positive; export (V2G) negative.</p>
<h2>Key figures</h2>
{_kpi_table(results)}
{_economics_section(results)}
<h2>Plots</h2>
{"".join(parts)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
