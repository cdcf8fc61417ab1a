"""``ersgrid forecast``: backtests of the forecasters against seasonal naive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ersgrid.cli.console import fit_tables, format_value, print_json, print_tables, say
from ersgrid.errors import ErsgridError

__all__ = ["forecast_app"]

forecast_app = typer.Typer(
    help="Forecasts of traffic, demand, PV, wind, price and CO2, and their backtests.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

UNITS = {"traffic": "veh/15 min", "demand": "kW", "pv": "kW", "wind": "kW", "renewable": "kW",
         "co2": "kg/kWh"}  # fmt: skip
METRIC_ROWS = (
    ("mae", "MAE [{unit}]", None),
    ("mape_pct", "MAPE [%]", 0.01),
    ("nmae_pct", "nMAE [%] (of capacity / mean)", 0.01),
    ("wape_pct", "WAPE [%]", 0.01),
    ("pinball", "pinball (mean of 3 quantiles) [{unit}]", None),
    ("coverage_pct", "P10–P90 coverage [%]", 0.1),
)
"""(score key, label, resolution: None for the target's own, see ``_target_step``)."""
TARGET_STEP = {"traffic": 0.01, "co2": 1e-4, "price": 1e-3}
"""Resolution of errors in the target's unit (kW targets: 1 W)."""


def _unit(target: str, currency: str) -> str:
    base = target.split(":")[0]
    return f"{currency}/kWh" if base == "price" else UNITS.get(base, "")


@forecast_app.command()
def backtest(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    target: Annotated[
        str, typer.Option(help="traffic, traffic:<class>_<A|B>, demand, pv, wind, price, co2, …")
    ],
    days: Annotated[
        int, typer.Option(help="Held-out days (one origin each midnight).", min=1)
    ] = 28,
    model: Annotated[
        str, typer.Option(help="gbm (LightGBM), hgb (scikit-learn), naive, or pkg.mod:Class.")
    ] = "gbm",
    history_days: Annotated[
        int, typer.Option(help="Days of generated history before the held-out days.", min=35)
    ] = 365,
    history: Annotated[
        Path | None,
        typer.Option(help="Your own history (CSV/Parquet) instead of the generated one."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the plot (results/<scenario>-forecast).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the scores as JSON on stdout, and nothing else.")
    ] = False,
) -> None:
    """Rolling-origin backtest: 48-h forecasts issued daily over the last DAYS days."""
    from ersgrid.forecast.backtest import backtest as run_backtest
    from ersgrid.forecast.forecaster import target_names
    from ersgrid.forecast.importers import read_history
    from ersgrid.forecast.plot import backtest_figure
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.world.history import generate_history

    sc = load_scenario(scenario)
    if history is not None:
        hist = read_history(history, sc.timezone)
    else:
        hist = generate_history(sc, days=history_days + days)
    if target not in hist.columns:
        raise ErsgridError(f"unknown target {target!r}; this history has {target_names(hist)}")
    result = run_backtest(hist, target, sc.traffic.holidays_country, days=days, model=model)
    unit = _unit(target, sc.currency)
    folder = out or Path("results") / f"{sc.name}-forecast"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"forecast-{target.replace(':', '-')}.html"
    fig = backtest_figure(result, unit=unit, title=f"{sc.name}: {target}")
    fig.write_html(path, include_plotlyjs=True)
    if as_json:
        print_json(
            {
                "scenario": sc.name, "target": target, "unit": unit, "model": result.model,
                "held_out_days": days, "fits": result.fits, "scores": result.scores,
                "plot": str(path),
            }
        )  # fmt: skip
        return
    step = TARGET_STEP.get(target.split(":")[0], 1e-3)
    labels: list[str] = []
    model_col: list[str] = []
    naive_col: list[str] = []
    for key, label, res in METRIC_ROWS:
        m = result.scores["model"].get(key, float("nan"))
        b = result.scores["seasonal_naive"].get(key, float("nan"))
        labels.append(label.format(unit=unit))
        model_col.append(format_value(m, step=res or step))
        naive_col.append(format_value(b, step=res or step))
    labels.append("skill (1 − MAE / MAE naive)")
    model_col.append(format_value(result.scores["skill"]["all"], step=1e-3))
    naive_col.append("0")
    for lead in ("0-24h", "24-48h"):
        if lead in result.scores:
            s = result.scores[lead]
            labels.append(f"lead {lead}: MAE, skill, coverage [%]")
            model_col.append(
                f"{format_value(s['mae'], step=step)}, {format_value(s['skill'], step=1e-3)}, "
                f"{format_value(s['coverage_pct'], step=0.1)}"
            )
            naive_col.append("")
    title = (
        f"{sc.name} — {target} [{unit}]: {days} held-out day(s), 48-h forecasts "
        f"issued daily, {result.fits} fit(s)"
    )
    columns = {result.model: model_col, "seasonal naive": naive_col}
    print_tables(fit_tables(title, "metric", labels, columns))
    say(f"plot: {path}")
