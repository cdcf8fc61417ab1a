"""Plot of a backtest: forecast against actual with the P10–P90 band (a plotly figure)."""

from __future__ import annotations

from typing import Any

from ersgrid.forecast.backtest import BacktestResult
from ersgrid.forecast.features import STEPS_PER_DAY

__all__ = ["backtest_figure"]


def backtest_figure(result: BacktestResult, unit: str = "", title: str = "") -> Any:
    """Day-ahead forecasts of a backtest (lead 0–24 h from each origin) against the actual.

    Parameters
    ----------
    result : BacktestResult
    unit : str
        Unit of the target for the axis, e.g. ``veh/15 min`` or ``kW``.
    title : str

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    f = result.forecasts
    day = f[f["lead_steps"] < STEPS_PER_DAY].sort_values("time")
    t = day["time"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=day["p90"], line={"width": 0}, name="P90", showlegend=False))
    fig.add_trace(
        go.Scatter(
            x=t, y=day["p10"], line={"width": 0}, fill="tonexty",
            fillcolor="rgba(31,119,180,0.25)", name="P10–P90",
        )
    )  # fmt: skip
    fig.add_trace(go.Scatter(x=t, y=day["p50"], name=f"P50 ({result.model})", line={"width": 1.5}))
    fig.add_trace(
        go.Scatter(x=t, y=day["naive"], name="seasonal naive", line={"width": 1, "dash": "dot"})
    )
    fig.add_trace(
        go.Scatter(x=t, y=day["actual"], name="actual", line={"color": "black", "width": 1})
    )
    s = result.scores
    subtitle = (
        f"MAE {s['model']['mae']:.4g} (naive {s['seasonal_naive']['mae']:.4g}), "
        f"skill {s['skill']['all']:.2f}, P10–P90 coverage {s['model']['coverage_pct']:.0f} %"
    )
    fig.update_layout(
        title=f"{title or result.target}<br><sup>{subtitle}</sup>",
        xaxis_title="time (day-ahead forecasts, issued daily at 00:00)",
        yaxis_title=f"{result.target} [{unit}]" if unit else result.target,
        template="plotly_white",
        hovermode="x unified",
    )
    return fig
