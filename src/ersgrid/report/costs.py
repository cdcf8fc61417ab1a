"""The cost breakdown: the KPI terms that add up to the margin and the objective."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ersgrid.report.common import Section, baseline_of, color_of
from ersgrid.run.kpis import MARGIN_TERMS, OBJECTIVE_TERMS

if TYPE_CHECKING:
    from ersgrid.run.runner import RunResult

__all__ = ["TERM_LABELS", "cost_section", "waterfall_steps"]

TERM_LABELS: dict[str, str] = {
    "revenue": "revenue from vehicles",
    "export_revenue": "export revenue",
    "grid_energy_cost": "grid energy bought, less network fees",
    "network_fees": "network fees",
    "renewable_purchase": "renewables bought (PPA)",
    "v2g_buyback": "V2G refund to owners",
    "v2g_payment": "V2G payments",
    "stored_energy_value": "stored energy value",
    "demand_charge": "demand charge",
    "carbon_cost": "carbon cost",
    "storage_wear_cost": "storage wear",
    "v2g_wear_cost": "V2G battery wear",
    "shortfall_penalty": "penalty on unmet energy",
    "network_penalty": "penalty on network limits",
    "stored_energy_carbon_value": "stored energy, carbon value",
}
"""How the cost breakdown names each term of :data:`~ersgrid.run.kpis.MARGIN_TERMS` and
:data:`~ersgrid.run.kpis.OBJECTIVE_TERMS`."""


def waterfall_steps(kpis: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """The cost breakdown of one run: (label, measure, value [currency]) in drawing order.

    The signed terms of the margin (measure ``relative``, positive when they add money), the
    margin (``total``), the terms beyond it, and ``−objective`` (``total``). The totals are
    the run's own ``margin`` and ``objective`` KPIs, which the terms add up to exactly.
    """
    steps: list[tuple[str, str, float]] = []
    for key, sign in MARGIN_TERMS:
        steps.append((TERM_LABELS[key], "relative", sign * float(kpis[key])))
    steps.append(("margin", "total", float(kpis["margin"])))
    for key, sign in OBJECTIVE_TERMS:
        steps.append((TERM_LABELS[key], "relative", sign * float(kpis[key])))
    steps.append(("−objective", "total", -float(kpis["objective"])))
    return steps


def _shown(results: list[RunResult]) -> list[str]:
    """The labels to draw: every total, and each term that is not zero in every run."""
    steps = [waterfall_steps(r.kpis) for r in results]
    return [
        label
        for i, (label, measure, _) in enumerate(steps[0])
        if measure == "total" or any(abs(s[i][2]) > 1e-9 for s in steps)
    ]


def _waterfalls(results: list[RunResult]) -> go.Figure:
    cur = results[0].scenario.currency
    shown = _shown(results)
    fig = make_subplots(rows=1, cols=len(results), shared_yaxes=True,
                        horizontal_spacing=0.02 if len(results) > 1 else 0.0,
                        subplot_titles=[f"{r.strategy}<br>objective {r.kpis['objective']:,.0f}"
                                        for r in results])  # fmt: skip
    for col, r in enumerate(results, start=1):
        steps = [s for s in waterfall_steps(r.kpis) if s[0] in shown]
        fig.add_trace(go.Waterfall(
            y=[s[0] for s in steps], x=[s[2] for s in steps], measure=[s[1] for s in steps],
            orientation="h", name=r.strategy, showlegend=False,
            increasing={"marker": {"color": "#2ca02c"}},
            decreasing={"marker": {"color": "#d62728"}},
            totals={"marker": {"color": "#444"}},
            connector={"line": {"color": "#999", "width": 1}},
            hovertemplate="%{y}: %{x:,.0f} " + cur + "<extra>" + r.strategy + "</extra>",
        ), row=1, col=col)  # fmt: skip
        fig.update_xaxes(title_text=f"money [{cur}]", row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title="Cost breakdown: from revenue to margin to −objective",
        height=180 + 32 * len(shown),
        margin={"t": 100, "b": 50, "l": 200},
    )
    return fig


def _differences(results: list[RunResult]) -> go.Figure:
    base = baseline_of(results)
    cur = base.scenario.currency
    shown = _shown(results)
    ref = {label: value for label, _, value in waterfall_steps(base.kpis)}
    fig = go.Figure()
    for n, r in enumerate(results):
        if r is base:
            continue
        steps = [s for s in waterfall_steps(r.kpis) if s[0] in shown]
        fig.add_trace(go.Bar(
            y=[s[0] for s in steps], x=[s[2] - ref[s[0]] for s in steps], orientation="h",
            name=r.strategy, marker={"color": color_of(n)},
            hovertemplate="%{y}: %{x:+,.0f} " + cur + "<extra>" + r.strategy + "</extra>",
        ))  # fmt: skip
    fig.add_vline(x=0.0, line_color="black", line_width=1)
    fig.update_layout(
        title=f"Each term against {base.strategy}: right of zero is money gained",
        barmode="group", xaxis_title=f"difference to {base.strategy} [{cur}]",
        yaxis={"autorange": "reversed"},
        height=160 + len(shown) * (14 * (len(results) - 1) + 12), margin={"l": 200},
    )  # fmt: skip
    return fig


def cost_section(results: list[RunResult]) -> Section:
    """The waterfall of each run and, with several runs, each term against the baseline."""
    figures = [_waterfalls(results)]
    if len(results) > 1:
        figures.append(_differences(results))
    text = (
        "Each bar is one term of the run's money, signed so that a step right (green) adds "
        "money and a step left (red) costs it: revenue from the vehicles and export, then "
        "what the grid energy, the network fees, bought renewables and V2G cost, and what the"
        " energy the batteries gained is worth; they add up to the margin. The costs the "
        "planner weighs beyond money (demand charge, carbon, battery wear, the penalty on "
        "energy a vehicle lacked at its exit target) take the margin to −objective (grey bars"
        " are the totals; the longer −objective reaches right, the better the run). Terms "
        "that are zero in every run are left out. With several runs, the last plot puts each "
        "term of every strategy against the baseline's: the terms with the longest bars are "
        "why the objective ranks the strategies as it does."
    )
    return Section("Cost breakdown", text, figures)
