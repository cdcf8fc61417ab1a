"""The ``ersgrid sweep`` command: a parameter study on Dask, with its progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ersgrid.cli.console import format_value, print_json, print_tables, progress, say
from ersgrid.cli.errors import on_interrupt

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["sweep"]

SUMMARY_ROWS = 40
"""Runs shown in the summary table (sweep.parquet holds them all)."""


def _summary(table: Any, params: list[str]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    out = Table(title=f"Sweep results (one row per run; the first {SUMMARY_ROWS})")
    cols = [*params, "strategy", "status", "energy_cost", "co2_kg", "peak_import_kw"]
    cols = [c for c in cols if c in table.columns]
    for c in cols:
        out.add_column(escape(c), justify="right", overflow="fold")
    for _, row in table.head(SUMMARY_ROWS).iterrows():
        out.add_row(*(escape(format_value(row[c], c)) for c in cols))
    return out


def sweep(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="PATH=v1,v2,... with a dotted scenario field path, e.g. "
            "traffic.daily_volume=20000,40000 or road.sections.0.length_km=10,20. Repeat it; "
            "the sweep runs every combination.",
        ),
    ] = None,
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategy names (or package.module:Class).")
    ] = "uncontrolled",
    days: Annotated[float, typer.Option(help="Simulated days of each run.", min=0.0104)] = 1.0,
    start: Annotated[
        str | None, typer.Option(help="First local day, YYYY-MM-DD (default: the scenario's).")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes of the local cluster (default: CPU count).", min=1),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Sweep folder (default: results/sweep-<scenario>); rerun to resume."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run again the runs recorded as failed.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ledger: Annotated[
        bool,
        typer.Option(
            "--ledger/--no-ledger",
            help="Write each run's signed ledger (slow; a planning study settles no money).",
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the sweep's rows as JSON on stdout, and nothing else."),
    ] = False,
) -> None:
    """Run a parameter sweep (every combination × every strategy) as Dask tasks.

    Writes sweep.parquet (one row per run), report.html (trade-offs and the cost-CO2 Pareto
    front) and runs/<id>/ (each run's own results folder) under --out.
    """
    from ersgrid.errors import ScenarioError
    from ersgrid.results import write_results
    from ersgrid.study.grid import build_runs, parse_params
    from ersgrid.study.sweep import run_sweep

    grid = parse_params(param or [])
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    if not names:
        raise ScenarioError("--strategies: give at least one strategy name")
    runs = build_runs(scenario, grid, names, days, start)  # every point valid before any runs
    first = runs[0]
    folder = out or Path("results") / f"sweep-{first.scenario.name}"
    on_interrupt(
        f"the finished runs are kept in {folder}/runs; run the same command again to resume"
    )
    if not as_json:
        say(
            f"sweep of {first.scenario.name}: {len(runs)} runs ({len(runs) // len(names)} "
            f"points × {len(names)} strategies), {days:g} day(s) each, on "
            + (scheduler or f"a local cluster of {workers or 'CPU-count'} worker processes")
        )
    with progress(quiet) as bar:
        tick = bar.task(f"sweep {first.scenario.name}", unit="runs")
        failed = 0

        def on_row(done: int, total: int, row: dict[str, Any] | None) -> None:
            nonlocal failed
            if row is not None and row.get("status") != "ok":
                failed += 1
            tick(done, total, f"{failed} failed")

        result = run_sweep(
            scenario, grid, names, days, folder, start=start, scheduler=scheduler,
            workers=workers, retry_failed=retry_failed, progress=on_row, ledger=ledger,
            writer=write_results,
        )  # fmt: skip
    if as_json:
        print_json(
            {
                "results": str(result.out), "runs": len(result.table),
                "executed": result.executed, "resumed": result.resumed, "failed": result.failed,
                "wall_time_s": result.wall_time_s,
                "rows": result.table.to_dict(orient="records"),
            }
        )  # fmt: skip
        return
    print_tables([_summary(result.table, list(grid))])
    say(
        f"{len(result.table)} runs ({result.executed} run now, {result.resumed} resumed, "
        f"{result.failed} failed) in {result.wall_time_s:.1f} s; results: {result.out}/ "
        "(sweep.parquet, report.html, runs/)"
    )
