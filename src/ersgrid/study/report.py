"""The sweep report: trade-offs a planner reads (KPIs against each parameter, cost-CO2 front).

One self-contained HTML page (plotly inlined, opens with no network), written from
``sweep.parquet`` alone so it can be redrawn from a finished sweep.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
from plotly.io import to_html
from plotly.subplots import make_subplots

__all__ = ["TRADE_OFF_KPIS", "pareto_mask", "write_sweep_report"]

TRADE_OFF_KPIS: dict[str, str] = {
    "energy_cost": "Energy cost [{cur}]",
    "co2_kg": "CO2 [kg]",
    "peak_import_kw": "Peak import, 15-min mean [kW]",
    "limit_violations": "Rating violations [-]",
    "unmet_energy_kwh": "Unmet energy to exit targets [kWh]",
}
"""KPIs plotted against each parameter; any other KPI with 'violation' in its name joins them."""

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def pareto_mask(cost: npt.ArrayLike, co2: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Which points are on the Pareto front of minimum cost and minimum CO2.

    A point is on the front when no other point is at most as costly and at most as emitting
    while strictly better in one of the two. NaN points are never on the front.

    Parameters
    ----------
    cost : array_like [currency]
    co2 : array_like [kg]
    """
    c = np.asarray(cost, dtype=float)
    e = np.asarray(co2, dtype=float)
    ok = np.isfinite(c) & np.isfinite(e)
    leq = (c[None, :] <= c[:, None]) & (e[None, :] <= e[:, None])
    lt = (c[None, :] < c[:, None]) | (e[None, :] < e[:, None])
    dominated = (leq & lt & ok[None, :]).any(axis=1)
    mask: npt.NDArray[np.bool_] = ok & ~dominated
    return mask


def _kpis(table: pd.DataFrame) -> list[str]:
    extra = [c for c in table.columns if "violation" in c and c not in TRADE_OFF_KPIS]
    return [k for k in [*TRADE_OFF_KPIS, *extra] if k in table.columns]


def _label(key: str, cur: str) -> str:
    return TRADE_OFF_KPIS.get(key, key).format(cur=cur)


def _hover(table: pd.DataFrame, params: list[str]) -> list[str]:
    return [
        "<br>".join([f"run {r['run_id']} ({r['strategy']})", *(f"{p} = {r[p]}" for p in params)])
        for _, r in table.iterrows()
    ]


def _param_figure(ok: pd.DataFrame, param: str, params: list[str], cur: str) -> go.Figure:
    kpis = _kpis(ok)
    fig = make_subplots(
        rows=1, cols=len(kpis), subplot_titles=[_label(k, cur) for k in kpis],
        horizontal_spacing=0.06,
    )  # fmt: skip
    for n, (strategy, group) in enumerate(ok.groupby("strategy", sort=True)):
        color = _PALETTE[n % len(_PALETTE)]
        hover = _hover(group, params)
        for col, key in enumerate(kpis, start=1):
            fig.add_trace(go.Scatter(
                x=group[param], y=group[key], mode="markers", name=str(strategy),
                marker={"color": color, "size": 7, "opacity": 0.55}, text=hover,
                hoverinfo="text+y", legendgroup=str(strategy), showlegend=col == 1,
            ), row=1, col=col)  # fmt: skip
            mean = group.groupby(param, sort=True)[key].mean()
            fig.add_trace(go.Scatter(
                x=mean.index, y=mean.to_numpy(), mode="lines", line={"color": color},
                name=f"{strategy} mean", legendgroup=str(strategy), showlegend=False,
            ), row=1, col=col)  # fmt: skip
            fig.update_xaxes(title_text=param, row=1, col=col)
    fig.update_layout(
        title=f"Trade-offs against {param} (points: runs; line: mean over the other parameters)",
        height=360, margin={"t": 70, "b": 40},
    )  # fmt: skip
    return fig


def _pareto_figure(ok: pd.DataFrame, params: list[str], cur: str) -> go.Figure:
    fig = go.Figure()
    for n, (strategy, group) in enumerate(ok.groupby("strategy", sort=True)):
        fig.add_trace(go.Scatter(
            x=group["energy_cost"], y=group["co2_kg"], mode="markers", name=str(strategy),
            marker={"color": _PALETTE[n % len(_PALETTE)], "size": 9, "opacity": 0.7},
            text=_hover(group, params), hoverinfo="text+x+y",
        ))  # fmt: skip
    front = ok[pareto_mask(ok["energy_cost"], ok["co2_kg"])].sort_values("energy_cost")
    fig.add_trace(go.Scatter(
        x=front["energy_cost"], y=front["co2_kg"], mode="lines+markers", name="Pareto front",
        line={"color": "black", "dash": "dash"}, marker={"symbol": "circle-open", "size": 14},
        text=_hover(front, params), hoverinfo="text+x+y",
    ))  # fmt: skip
    fig.update_layout(
        title="Cost against CO2: runs and their Pareto front (lower left is better)",
        xaxis_title=f"Energy cost [{cur}]", yaxis_title="CO2 [kg]", height=460,
    )  # fmt: skip
    return fig


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if not np.isfinite(value):
            return ""
        return f"{value:,.4g}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else html.escape(str(value))


def _runs_table(table: pd.DataFrame, params: list[str]) -> str:
    cols = ["run_id", *params, "strategy", "status", *_kpis(table), "error_type", "error"]
    cols = [c for c in dict.fromkeys(cols) if c in table.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, row in table.iterrows():
        cells = "".join(f"<td>{_fmt(row[c])}</td>" for c in cols)
        cls = "" if row["status"] == "ok" else " class='failed'"
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_sweep_report(
    table: pd.DataFrame, params: list[str], path: Path, title: str = "sweep"
) -> Path:
    """Write the sweep's HTML report from its table (``sweep.parquet``).

    Parameters
    ----------
    table : DataFrame
        One row per run, as :func:`ersgrid.study.sweep.run_sweep` writes it.
    params : list of str
        The swept dotted paths (columns of ``table``).
    path : Path
        The HTML file to write.
    title : str
        Scenario name or path, shown in the heading.
    """
    ok = table[table["status"] == "ok"]
    cur = str(ok["currency"].iloc[0]) if "currency" in ok.columns and len(ok) else "currency"
    figures: list[go.Figure] = []
    if len(ok):
        figures += [_param_figure(ok, p, params, cur) for p in params]
        if {"energy_cost", "co2_kg"} <= set(ok.columns):
            figures.append(_pareto_figure(ok, params, cur))
    parts = [
        to_html(fig, full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
        for i, fig in enumerate(figures)
    ]
    n_failed = int((table["status"] != "ok").sum())
    heading = f"ersgrid sweep — {title}"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(heading)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; font-size: 0.85rem; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
tr.failed td {{ background: #fde8e8; }}
</style></head><body>
<h1>{html.escape(heading)}</h1>
<p>{len(table)} runs: {len(table) - n_failed} finished, {n_failed} failed.
Parameters: {html.escape(", ".join(params) or "none")}.
Strategies: {html.escape(", ".join(sorted(map(str, table["strategy"].unique()))))}.</p>
<h2>Trade-offs</h2>
{"".join(parts) or "<p>No finished run to plot.</p>"}
<h2>Runs</h2>
{_runs_table(table, params)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
