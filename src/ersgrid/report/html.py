"""A self-contained HTML report of one or more runs (plotly inlined: opens with no network)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go
from plotly.io import to_html
from plotly.subplots import make_subplots

from ersgrid.report.common import Section, baseline_of, color_of, thin, time_title
from ersgrid.report.costs import cost_section
from ersgrid.report.dispatch import dispatch_section, storage_section
from ersgrid.report.grid import GRID_KPI_LABELS, grid_figures
from ersgrid.report.outcomes import difference_section, unmet_section, violations_section

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = ["KPI_LABELS", "report_sections", "write_report"]

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
            ts = thin(r.timeseries)
            fig.add_trace(go.Scatter(
                x=ts.index, y=ts[f"road_power_{sid}_kw"], name=f"{r.strategy}", mode="lines",
                line={"color": color_of(n), "width": 1.5},
                legendgroup=r.strategy, showlegend=row == 1,
            ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=thin(first.timeseries).index, y=thin(first.timeseries)[f"road_limit_{sid}_kw"],
            name="rating / limit", mode="lines", line={"color": "black", "dash": "dash"},
            legendgroup="limit", showlegend=row == 1,
        ), row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text="power [kW]", row=row, col=1)
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
            ts = thin(r.timeseries)
            fig.add_trace(go.Scatter(
                x=ts.index, y=ts[f"grid_import_{sid}_kw"], name=r.strategy, mode="lines",
                line={"color": color_of(n), "width": 1.5, "shape": "hv"},
                legendgroup=r.strategy, showlegend=row == 1,
            ), row=row, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=thin(first.timeseries).index,
            y=thin(first.timeseries)[f"import_limit_{sid}_kw"],
            name="import limit (with DR caps)", mode="lines",
            line={"color": "black", "dash": "dash", "shape": "hv"}, legendgroup="limit",
            showlegend=row == 1,
        ), row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text="power [kW]", row=row, col=1)
    fig.update_layout(height=200 * len(subs) + 80, margin={"t": 40, "b": 30})
    return fig


def _price_figure(results: list[RunResult]) -> go.Figure:
    """The grid price, the user price and the CO2 intensity of the runs' world (a run under
    another tariff design adds its own prices)."""
    first = results[0]
    cur = first.scenario.currency
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["Prices", "CO2 intensity of grid energy"])  # fmt: skip
    cols = ["price_per_kwh", "user_price_per_kwh", "co2_kg_per_kwh"]
    shown: list[pd.DataFrame] = []
    for n, r in enumerate(results):
        full = r.timeseries[cols]
        if any(full.equals(other) for other in shown):
            continue
        shown.append(full)
        ts = thin(full)
        tag = "" if n == 0 else f" ({r.strategy})"
        color = "#1f77b4" if n == 0 else color_of(n)
        fig.add_trace(go.Scatter(x=ts.index, y=ts["price_per_kwh"], name=f"grid price{tag}",
                                 mode="lines", line={"shape": "hv", "color": color}),
                      row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=ts.index, y=ts["user_price_per_kwh"],
                                 name=f"user price{tag}", mode="lines",
                                 line={"shape": "hv", "dash": "dash", "color": color}),
                      row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=ts.index, y=ts["co2_kg_per_kwh"], name=f"CO2 intensity{tag}",
                                 mode="lines", line={"shape": "hv", "color": "#2ca02c"}),
                      row=2, col=1)  # fmt: skip
    fig.update_yaxes(title_text=f"price [{cur}/kWh]", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="CO2 [kg/kWh]", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text=time_title(first), row=2, col=1)
    fig.update_layout(title="Grid price, user price and CO2 intensity", height=420,
                      margin={"t": 80, "b": 40})  # fmt: skip
    return fig


def _soc_figure(results: list[RunResult]) -> go.Figure:
    fig = go.Figure()
    for n, r in enumerate(results):
        fig.add_trace(go.Histogram(
            x=r.trips["soc_exit"], name=r.strategy, opacity=0.6, xbins={"size": 0.025},
            marker={"color": color_of(n)},
        ))  # fmt: skip
    targets = sorted(set(results[0].trips["soc_target"].round(3)))
    for t in targets:
        fig.add_vline(x=t, line_dash="dash", annotation_text=f"target {t:.2f}")
    fig.update_layout(
        title="State of charge at exit (completed trips)", barmode="overlay",
        xaxis_title="state of charge at exit [-]", yaxis_title="trips [-]", height=340,
    )  # fmt: skip
    return fig


def _road_figure(results: list[RunResult]) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for n, r in enumerate(results):
        ts = thin(r.timeseries)
        fig.add_trace(go.Scatter(x=ts.index, y=ts["grid_import_kw"], name=f"{r.strategy} import",
                                 line={"color": color_of(n)}),
                      secondary_y=False)  # fmt: skip
    ts = thin(results[0].timeseries)
    fig.add_trace(go.Scatter(x=ts.index, y=ts["vehicles_on_road"], name="ERS vehicles on road",
                             line={"color": "grey", "dash": "dot"}), secondary_y=True)  # fmt: skip
    fig.update_yaxes(title_text="power [kW]", secondary_y=False)
    fig.update_yaxes(title_text="vehicles on the road [-]", secondary_y=True)
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
        color = color_of(c)
        fig.add_trace(go.Bar(x=ts.index, y=actual[: len(ts)], name=f"{name}: entered",
                             marker={"color": color}, opacity=0.45))  # fmt: skip
        source = "expected" if planner is None else planner.strategy
        fig.add_trace(go.Scatter(x=ts.index, y=expected, name=f"{name}: forecast ({source})",
                                 line={"color": color}))  # fmt: skip
    fig.update_layout(
        title="ERS vehicles entering per 15 min: realised against the planners' forecast",
        yaxis_title="vehicles per 15 min [-]", barmode="overlay", height=340,
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
    ts = thin(planner.timeseries)
    kinds = [k for k in RENEWABLE_LABELS if f"forecast_{k}_p50_kw" in ts and f"{k}_kw" in ts]
    fig = make_subplots(
        rows=len(kinds), cols=1, shared_xaxes=True, vertical_spacing=0.08,
        subplot_titles=[f"{RENEWABLE_LABELS[k]}: forecast used by {planner.strategy} "
                        "against actual" for k in kinds],
    )  # fmt: skip
    for row, kind in enumerate(kinds, start=1):
        color = color_of(row - 1)
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
        fig.update_yaxes(title_text="power [kW]", row=row, col=1)
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


AGAINST_BASELINE: dict[str, str] = {
    "curtailed_kwh": "Curtailment avoided [kWh]",
    "co2_kg": "CO2 avoided [kg]",
    "energy_cost": "Energy cost saved [{cur}]",
    "peak_import_kw": "Peak import cut [kW]",
}
"""KPIs the report subtracts from the baseline's (baseline − run: positive is better)."""


def _baseline_section(results: list[RunResult]) -> str:
    """What each strategy avoided against the baseline (``uncontrolled`` if it ran); empty
    with a single run."""
    if len(results) < 2:
        return ""
    base = baseline_of(results)
    cur = results[0].scenario.currency
    others = [r for r in results if r is not base]
    head = "".join(f"<th>{html.escape(r.strategy)}</th>" for r in others)
    rows = []
    for key, label in AGAINST_BASELINE.items():
        if not all(isinstance(r.kpis.get(key), int | float) for r in results):
            continue
        cells = "".join(
            f"<td>{_fmt(float(base.kpis[key]) - float(r.kpis[key]))}</td>" for r in others
        )
        rows.append(f"<tr><th scope='row'>{html.escape(label.format(cur=cur))}</th>{cells}</tr>")
    return (
        f"<h2>Against {html.escape(base.strategy)}</h2><p>{html.escape(base.strategy)}'s "
        "figure less each strategy's, on the same draws: positive is what the strategy "
        "avoided or saved.</p>"
        f"<table><thead><tr><th>KPI</th>{head}</tr></thead><tbody>{''.join(rows)}"
        "</tbody></table>"
    )


def _counterfactual_section(results: list[RunResult]) -> str:
    """The road against depot charging, public fast charging and diesel on the same trips
    (``economics.json``'s ``counterfactuals``), when they were computed."""
    from ersgrid.study.counterfactuals import OPTIONS

    if not all("cost_per_kwh_road" in r.kpis for r in results):
        return ""
    cur = results[0].scenario.currency
    head = "".join(
        f"<th>{html.escape(r.strategy)}: cost [{html.escape(cur)}/kWh]</th>"
        f"<th>{html.escape(r.strategy)}: CO2 [kg/vehicle-km]</th>"
        for r in results
    )
    rows = []
    for key, label in OPTIONS.items():
        cells = "".join(
            f"<td>{_fmt(r.kpis.get(f'cost_per_kwh_{key}', ''))}</td>"
            f"<td>{_fmt(r.kpis.get(f'co2_kg_per_vkm_{key}', ''))}</td>"
            for r in results
        )
        rows.append(f"<tr><th scope='row'>{html.escape(label)}</th>{cells}</tr>")
    return (
        "<h2>Against depot charging, fast charging and diesel</h2><p>The run's completed "
        "trips served four ways: the road (its levelised cost, capital included; the CO2 of "
        "the grid energy it and its batteries drew beyond local renewables), the same energy "
        "charged overnight at depots on the same tariff, at public fast chargers, and the "
        "same trips on diesel "
        "(well to wheel). Per kWh into the batteries (diesel: per kWh it stands in for) and "
        "per vehicle-km driven on the corridor; economics.json holds every figure.</p>"
        f"<table><thead><tr><th>option</th>{head}</tr></thead><tbody>{''.join(rows)}"
        "</tbody></table>"
    )


def _connections_section(results: list[RunResult]) -> Section:
    limits = _import_limit_figure(results)
    text = (
        "Each connection's grid import against its import limit (dashed: the limit with any "
        "demand-response cap in force), and each substation's road power against its rating. "
        "A line above the dashed one is a limit broken (counted under Limit violations)."
    )
    return Section(
        "Grid connections", text, [*([limits] if limits else []), _power_figure(results)]
    )


def _vehicles_section(results: list[RunResult]) -> Section:
    text = (
        "How full the batteries left the road: the distribution of the state of charge at exit "
        "of every completed trip (dashed: the classes' exit targets; mass left of a target is "
        "a trip that left short). Then the road's grid import beside the number of ERS "
        "vehicles on it, and the vehicles entering per 15 min against the forecast the "
        "planners used."
    )
    figures = [_soc_figure(results), _road_figure(results), *_traffic_figure(results)]
    return Section("Vehicles and traffic", text, figures)


def _price_section(results: list[RunResult]) -> Section:
    text = (
        "The prices the runs met: the grid price per kWh imported (network fee included), the "
        "user price the vehicles pay per kWh into their battery, and the CO2 intensity of grid "
        "energy. A controlled strategy moves import to the low stretches of the grid price and "
        "of the CO2 intensity when it carries a carbon price."
    )
    return Section("Price and CO2", text, [_price_figure(results)])


def _renewables_section(results: list[RunResult]) -> Section:
    text = (
        "The local plants: the forecast a planner used (P50 with its P10–P90 band) against "
        "what they produced, and where their output went (into the road, other loads, export, "
        "curtailed). With a grid model, the bus voltages against their band and the loading of "
        "each line and transformer of the first run."
    )
    return Section("Renewables and the grid", text, [*_renewables_figure(results),
                                                      *grid_figures(results)])  # fmt: skip


def _anchor(section: Section) -> str:
    return section.title.lower().replace(" ", "-")


def report_sections(results: list[RunResult]) -> list[Section]:
    """The report's sections after the key figures, in page order (one function each; a
    section without plots is left out)."""
    sections = [
        cost_section(results),
        dispatch_section(results),
        storage_section(results),
        difference_section(results),
        _connections_section(results),
        violations_section(results),
        unmet_section(results),
        _price_section(results),
        _vehicles_section(results),
        _renewables_section(results),
    ]
    return [s for s in sections if s is not None and s.figures]


def write_report(
    results: list[RunResult], path: Path, extra_figures: list[go.Figure] | None = None
) -> Path:
    """Write one HTML page with the key figures and the sections of every run in ``results``.

    Runs must share a scenario and time index (e.g. strategies compared on one scenario);
    with several, the first ``uncontrolled`` run (else the first) is the baseline the
    differences are taken against. plotly.js is embedded once, so the page opens offline.
    """
    first = results[0]
    sc = first.scenario
    sections = report_sections(results)
    if extra_figures:
        sections.append(Section("More plots", "", list(extra_figures)))
    body = []
    n = 0
    for s in sections:
        anchor = _anchor(s)
        parts = [f"<section id='{html.escape(anchor)}'><h2>{html.escape(s.title)}</h2>"]
        if s.how_to_read:
            parts.append(
                f"<p class='read'><b>How to read this.</b> {html.escape(s.how_to_read)}</p>"
            )
        for fig in s.figures:
            parts.append(to_html(fig, full_html=False, include_plotlyjs=(n == 0),
                                 config={"displaylogo": False}))  # fmt: skip
            n += 1
        parts.append("</section>")
        body.append("".join(parts))
    toc = "".join(
        f"<li><a href='#{html.escape(_anchor(s))}'>{html.escape(s.title)}</a></li>"
        for s in sections
    )
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
p.read {{ background: #f4f6f8; border-left: 3px solid #1f77b4; padding: 0.5rem 0.8rem; }}
section {{ margin-top: 2rem; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{meta}</p>
<p>Sign convention: power drawn from the grid by the road is positive; export (V2G) negative.</p>
<nav><ul>{toc}</ul></nav>
<h2>Key figures</h2>
{_kpi_table(results)}
{_baseline_section(results)}
{_economics_section(results)}
{_counterfactual_section(results)}
{"".join(body)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
