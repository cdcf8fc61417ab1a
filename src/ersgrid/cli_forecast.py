"""``ersgrid forecast``: backtests of the forecasters against seasonal naive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ersgrid.errors import ErsgridError

forecast_app = typer.Typer(
    help="Forecasts of traffic, demand, PV, wind, price and CO2, and their backtests.",
    no_args_is_help=True,
)
console = Console()

UNITS = {"traffic": "veh/15 min", "demand": "kW", "pv": "kW", "wind": "kW", "renewable": "kW",
         "co2": "kg/kWh"}  # fmt: skip
METRIC_ROWS = (
    ("mae", "MAE", "{:.4g}"),
    ("mape_pct", "MAPE [%]", "{:.2f}"),
    ("nmae_pct", "nMAE [%] (of capacity / mean)", "{:.2f}"),
    ("wape_pct", "WAPE [%]", "{:.2f}"),
    ("pinball", "pinball (mean of 3 quantiles)", "{:.4g}"),
    ("coverage_pct", "P10–P90 coverage [%]", "{:.1f}"),
)


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
        Path | None, typer.Option(help="Folder for the plot (results/<scenario>).")
    ] = None,
) -> None:
    """Rolling-origin backtest: 48-h forecasts issued daily over the last DAYS days."""
    from ersgrid.cli import _friendly

    _friendly(_backtest)(scenario, target, days, model, history_days, history, out)


def _backtest(
    scenario: str,
    target: str,
    days: int,
    model: str,
    history_days: int,
    history_file: Path | None,
    out: Path | None,
) -> None:
    from ersgrid.forecast.backtest import backtest as run_backtest
    from ersgrid.forecast.forecaster import target_names
    from ersgrid.forecast.importers import read_history
    from ersgrid.forecast.plot import backtest_figure
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.world.history import generate_history

    sc = load_scenario(scenario)
    if history_file is not None:
        hist = read_history(history_file, sc.timezone)
    else:
        hist = generate_history(sc, days=history_days + days)
    if target not in hist.columns:
        raise ErsgridError(f"unknown target {target!r}; this history has {target_names(hist)}")
    result = run_backtest(hist, target, sc.traffic.holidays_country, days=days, model=model)
    unit = _unit(target, sc.currency)
    table = Table(
        title=f"{sc.name} — {target} [{unit}]: {days} held-out day(s), 48-h forecasts "
        f"issued daily, {result.fits} fit(s)"
    )
    table.add_column("metric")
    table.add_column(result.model, justify="right")
    table.add_column("seasonal naive", justify="right")
    for key, label, fmt in METRIC_ROWS:
        m = result.scores["model"].get(key, float("nan"))
        b = result.scores["seasonal_naive"].get(key, float("nan"))
        table.add_row(label, fmt.format(m), fmt.format(b))
    table.add_row("skill (1 − MAE / MAE naive)", f"{result.scores['skill']['all']:.3f}", "0")
    for lead in ("0-24h", "24-48h"):
        if lead in result.scores:
            s = result.scores[lead]
            table.add_row(
                f"lead {lead}: MAE, skill, coverage",
                f"{s['mae']:.4g}, {s['skill']:.3f}, {s['coverage_pct']:.1f} %",
                "",
            )
    console.print(table)
    folder = out or Path("results") / sc.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"forecast-{target.replace(':', '-')}.html"
    fig = backtest_figure(result, unit=unit, title=f"{sc.name}: {target}")
    fig.write_html(path, include_plotlyjs=True)
    console.print(f"plot: {path}")
