"""The ``ersgrid`` command line."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ersgrid.cli_sweep import sweep as _sweep
from ersgrid.errors import ErsgridError

app = typer.Typer(
    help="ersgrid: energy management and digital twin for electric road systems.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


# Options shared by the commands that run scenarios
DaysOption = Annotated[float, typer.Option(help="Simulated days.", min=0.0104)]
StartOption = Annotated[
    str | None, typer.Option(help="First local day, YYYY-MM-DD (default: the scenario's).")
]
SeedOption = Annotated[int | None, typer.Option(help="Replace the scenario's random seed.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]

P = ParamSpec("P")
R = TypeVar("R")


def _friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an ErsgridError into a red message and exit code 2, with no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ErsgridError as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper


def _kpi_table(kpis_by_name: dict[str, dict[str, Any]]) -> Table:
    from ersgrid.report.html import KPI_LABELS

    first = next(iter(kpis_by_name.values()))
    table = Table(title=f"{first['scenario']} — {first['days']} day(s) from {first['start']}")
    table.add_column("KPI")
    for name in kpis_by_name:
        table.add_column(name, justify="right")
    for key, label in KPI_LABELS.items():
        cells = []
        for kpis in kpis_by_name.values():
            value = kpis.get(key)
            cells.append(
                f"{value:,.4g}" if isinstance(value, float) and abs(value) < 100
                else f"{value:,.0f}" if isinstance(value, float) else str(value)
            )  # fmt: skip
        table.add_row(label.format(cur=first["currency"]), *cells)
    return table


@app.command()
@_friendly
def run(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    strategy: Annotated[
        str,
        typer.Option(
            help="uncontrolled, tou, mpc (by substation groups above 12 substations), "
            "mpc-decomposed (by groups on any corridor), mpc-expected, oracle, or your own as "
            "package.module:ClassName."
        ),
    ] = "uncontrolled",
    days: DaysOption = 1.0,
    start: StartOption = None,
    seed: SeedOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Results folder (default: results/<scenario>).")
    ] = None,
    quiet: QuietOption = False,
    dr_events: Annotated[
        Path | None,
        typer.Option(
            help="CSV of demand-response events (event_id,start,end,import_cap_kw|shed_kw)."
        ),
    ] = None,
    peak_reference: Annotated[
        bool,
        typer.Option(
            help="Also run without V2G (all v2g_share = 0) and add peak_reduction_kw to kpis.json."
        ),
    ] = False,
) -> None:
    """Run a scenario end to end and write its results folder and report."""
    from ersgrid.data.dr_events import read_dr_events
    from ersgrid.run.results import write_results
    from ersgrid.run.runner import run as run_scenario
    from ersgrid.scenario.loader import load_scenario

    sc = load_scenario(scenario)
    events = read_dr_events(dr_events) if dr_events is not None else None
    first_day = _parse_date(start)
    folder = out or Path("results") / sc.name
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("steps"), TimeElapsedColumn(), console=console, disable=quiet,
        transient=False,
    ) as bar:  # fmt: skip
        task = bar.add_task(f"{sc.name} / {strategy}", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = run_scenario(
            sc, strategy, days=days, start=first_day, seed=seed, progress=tick,
            dr_events=events,
        )  # fmt: skip
        if peak_reference:
            from ersgrid.run.peak import without_v2g

            task = bar.add_task(f"{sc.name} / {strategy} without V2G", total=None)
            ref = run_scenario(
                without_v2g(sc), strategy, days=days, start=first_day, seed=seed, progress=tick,
                dr_events=events,
            )  # fmt: skip
            k = result.kpis
            k["peak_import_no_v2g_kw"] = ref.kpis["peak_import_kw"]
            k["peak_reduction_kw"] = ref.kpis["peak_import_kw"] - k["peak_import_kw"]
        write_results(result, folder)
    console.print(_kpi_table({result.strategy: result.kpis}))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False, markup=False)
    if peak_reference:
        k = result.kpis
        console.print(
            f"peak import {k['peak_import_kw']:,.0f} kW, without V2G "
            f"{k['peak_import_no_v2g_kw']:,.0f} kW: peak_reduction_kw = "
            f"{k['peak_reduction_kw']:,.0f}"
        )
    console.print(f"results: {folder}/ (report.html, kpis.json, timeseries.parquet, trips.parquet)")
    k = result.kpis
    console.print(
        f"ledger: {k['ledger_records']:,} records in {k['ledger_blocks']} blocks, settlement "
        f"balanced: {str(k['settlement_balanced']).lower()}; check it with "
        f"`ersgrid ledger verify {folder}`"
    )


@app.command()
@_friendly
def compare(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    strategies: Annotated[
        str, typer.Option(help="Comma-separated strategies to run on the same draws.")
    ] = "uncontrolled,tou,mpc,oracle",
    days: DaysOption = 1.0,
    start: StartOption = None,
    seed: SeedOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder (default: results/<scenario>-compare).")
    ] = None,
    quiet: QuietOption = False,
    tariffs: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated YAML files, each a tariff design (its own `tariff:` and/or "
            "`response:` sections); every strategy runs under every design."
        ),
    ] = None,
) -> None:
    """Run several strategies (and tariff designs) on one scenario; one table, one report."""

    from ersgrid.report.html import write_report
    from ersgrid.report.planning import margin_figure, storage_figure
    from ersgrid.run.results import json_safe, write_results
    from ersgrid.run.runner import run as run_scenario
    from ersgrid.scenario.loader import load_scenario

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    if not names:
        raise ErsgridError("--strategies: give at least one strategy, e.g. uncontrolled,mpc")
    designs = _tariff_designs(scenario, tariffs)
    sc = load_scenario(scenario)
    first_day = _parse_date(start)
    folder = out or Path("results") / f"{sc.name}-compare"
    results = []
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("steps"), TimeElapsedColumn(), console=console, disable=quiet,
    ) as bar:  # fmt: skip
        for (design, variant), name in itertools.product(designs.items(), names):
            label = name if design == "" else f"{name}@{design}"
            task = bar.add_task(f"{sc.name} / {label}", total=None)

            def tick(done: int, total: int, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            result = run_scenario(
                variant, name, days=days, start=first_day, seed=seed, progress=tick
            )
            write_results(result, folder / label)
            result.strategy = label
            results.append(result)
    console.print(_kpi_table({r.strategy: r.kpis for r in results}))
    write_report(results, folder / "report.html", [storage_figure(results), margin_figure(results)])
    (folder / "compare.json").write_text(
        json.dumps(json_safe({r.strategy: r.kpis for r in results}), indent=2) + "\n",
        encoding="utf-8",
    )
    console.print(f"results: {folder}/ (report.html, compare.json, one folder per strategy)")


def _tariff_designs(scenario: str, files: str | None) -> dict[str, Any]:
    """The scenario once per tariff design file ({"": scenario} without files)."""
    import yaml

    from ersgrid.scenario.loader import load_scenario

    if not files:
        return {"": load_scenario(scenario)}
    designs: dict[str, Any] = {}
    for name in (f.strip() for f in files.split(",") if f.strip()):
        path = Path(name)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise ErsgridError(f"--tariffs {name}: cannot read it: {err}") from None
        if not isinstance(data, dict) or not data or set(data) - {"tariff", "response"}:
            raise ErsgridError(
                f"--tariffs {name}: a tariff design holds only `tariff:` and/or `response:`"
            )
        designs[path.stem] = load_scenario(scenario, data)
    return designs


def _parse_date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ErsgridError(f"--start {text!r}: expected a date as YYYY-MM-DD") from None


@app.command()
@_friendly
def validate(
    file: Annotated[str, typer.Argument(help="Scenario YAML file or built-in name.")],
) -> None:
    """Check a scenario without running it; exit 2 naming each field that is wrong."""
    from ersgrid.scenario.layout import build_layout
    from ersgrid.scenario.loader import load_scenario

    sc = load_scenario(file)
    layout = build_layout(sc)
    console.print(
        f"[green]ok[/]: {sc.name}: {sc.road.length_km:g} km, {sc.road.electrified_km:g} km "
        f"electrified (both directions), {layout.n_segments} segments, "
        f"{layout.n_substations} substations"
    )


@app.command()
@_friendly
def scenarios() -> None:
    """List the built-in scenarios."""
    from ersgrid.scenario.loader import describe_builtins

    table = Table(title="Built-in scenarios")
    table.add_column("name")
    table.add_column("description")
    for name, text in describe_builtins().items():
        table.add_row(name, text)
    console.print(table)


@app.command("scenario-doc")
@_friendly
def scenario_doc(
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the scenario format (every field, unit, bound and default) as Markdown."""
    from ersgrid.scenario.docs import schema_markdown

    text = schema_markdown()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


def _add_subcommands() -> None:
    from ersgrid.cli_dr import dr_app
    from ersgrid.cli_forecast import forecast_app
    from ersgrid.cli_ledger import ledger_app

    app.add_typer(ledger_app, name="ledger")
    app.add_typer(dr_app, name="dr")
    app.add_typer(forecast_app, name="forecast")


_add_subcommands()
app.command("sweep")(_friendly(_sweep))


def _add_support_commands() -> None:
    from ersgrid.cli_support import outage, reserve

    app.command("reserve")(_friendly(reserve))
    app.command("outage")(_friendly(outage))


_add_support_commands()


@app.command()
@_friendly
def serve(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    speed: Annotated[
        float, typer.Option(help="Scenario seconds per wall-clock second.", min=0.001)
    ] = 60.0,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port of the API and dashboard.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option(
            help="Store URL: sqlite:///file.db (default in --data-dir) or postgresql://..."
        ),
    ] = None,
    mqtt: Annotated[
        str | None, typer.Option(help="MQTT broker, e.g. mqtt://127.0.0.1:1883 (off if not given).")
    ] = None,
    ocpp_port: Annotated[
        int | None, typer.Option(help="Port of the OCPP CSMS, 2.0.1 and 2.1 (off if not given).")
    ] = None,
    ingest_workers: Annotated[
        int,
        typer.Option(
            help="MQTT ingest processes (shared subscription); 0: in the service.", min=0, max=64
        ),
    ] = 0,
    strategy: Annotated[str, typer.Option(help="Strategy of the live loop.")] = "uncontrolled",
    days: Annotated[
        float, typer.Option(help="Scenario days the live loop covers.", min=0.0104)
    ] = 7.0,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder for study runs and the default database.")
    ] = None,
    ledger: Annotated[
        bool,
        typer.Option(
            help="Meter the live loop into a signed ledger (data-dir/ledger/<start>), settled "
            "and anchored every settlement period."
        ),
    ] = True,
    chain_url: Annotated[
        str | None,
        typer.Option(help="Ethereum JSON-RPC node to anchor on (in-process chain if not given)."),
    ] = None,
) -> None:
    """Run the live EMS: the twin on an accelerated clock, REST API and dashboard."""
    from ersgrid.service.server import build_service
    from ersgrid.service.server import serve as run_server

    service = build_service(
        scenario, strategy, speed=speed, days=days, db=db, mqtt=mqtt, ocpp_port=ocpp_port,
        data_dir=data_dir or Path("results") / "service", host=host,
        ingest_workers=ingest_workers, ledger=ledger, chain_url=chain_url,
    )  # fmt: skip
    console.print(
        f"serving {service.loop.scenario.name} at http://{host}:{port}/ "
        f"(API docs at /docs), clock x{speed:g}"
    )
    run_server(service, host=host, port=port)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover - python -m ersgrid.cli
    app()
