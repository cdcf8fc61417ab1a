"""``ersgrid run``, ``compare``, ``validate``, ``scenarios``, ``scenario-doc`` and ``export``.

Only the standard library and typer at module level: each command imports what it needs, so
that ``--help`` and ``scenarios`` answer at once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ersgrid.cli.console import (
    fit_tables,
    format_value,
    ok,
    print_json,
    print_tables,
    progress,
    say,
    status,
)
from ersgrid.cli.errors import on_interrupt
from ersgrid.errors import ErsgridError

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["compare", "export", "kpi_tables", "run", "scenario_doc", "scenarios", "validate"]

# Options shared by the commands that run scenarios
DaysOption = Annotated[float, typer.Option(help="Simulated days.", min=0.0104)]
StartOption = Annotated[
    str | None, typer.Option(help="First local day, YYYY-MM-DD (default: the scenario's).")
]
SeedOption = Annotated[int | None, typer.Option(help="Replace the scenario's random seed.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the results as JSON on stdout, and nothing else.")
]


def parse_date(text: str | None) -> dt.date | None:
    """``--start`` as a date (None if not given)."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ErsgridError(f"--start {text!r}: expected a date as YYYY-MM-DD") from None


def keep_note(folder: Path) -> None:
    """Say, for an interruption, that ``folder`` stays as it is."""
    if (folder / "kpis.json").is_file() or (folder / "compare.json").is_file():
        on_interrupt(f"{folder} is unchanged: it still holds the previous results")
    else:
        on_interrupt(f"no results were written ({folder} was not created)")


def kpi_tables(kpis_by_name: dict[str, dict[str, Any]], width: int | None = None) -> list[Table]:
    """The KPI table of one or more runs (one column each), split to fit ``width`` columns
    (the screen's by default)."""
    from ersgrid.report.html import KPI_LABELS
    from ersgrid.study.counterfactuals import COUNTERFACTUAL_LABELS
    from ersgrid.study.economics import ECONOMICS_LABELS

    first = next(iter(kpis_by_name.values()))
    shown = dict(KPI_LABELS)
    if any("npv" in kpis for kpis in kpis_by_name.values()):
        shown |= ECONOMICS_LABELS
    if any("cost_per_kwh_road" in kpis for kpis in kpis_by_name.values()):
        shown |= COUNTERFACTUAL_LABELS
    labels = [label.format(cur=first["currency"]) for label in shown.values()]
    columns = {
        name: [format_value(kpis.get(key), key) for key in shown]
        for name, kpis in kpis_by_name.items()
    }
    title = f"{first['scenario']} — {first['days']} day(s) from {first['start']}"
    return fit_tables(title, "KPI", labels, columns, width)


def _formats(export_opt: str | None) -> tuple[str, ...]:
    if not export_opt:
        return ()
    from ersgrid.results.export import parse_formats

    return parse_formats(export_opt)


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
    as_json: JsonOption = False,
    export_formats: Annotated[
        str | None,
        typer.Option(
            "--export",
            help="Also write the KPIs, time series and trips as csv, xlsx or csv,xlsx into the "
            "results folder (see `ersgrid export`).",
        ),
    ] = None,
    continue_from: Annotated[
        Path | None,
        typer.Option(
            "--continue-from",
            help="Results folder of a run of the same scenario that ended where this one "
            "starts: carry on with its vehicles, batteries, meters and strategy memory "
            "(default start: where it ended).",
        ),
    ] = None,
) -> None:
    """Run a scenario end to end and write its results folder and report."""
    from ersgrid.data.dr_events import read_dr_events
    from ersgrid.results import read_end_state, write_results
    from ersgrid.run.runner import run as run_scenario
    from ersgrid.scenario.loader import load_scenario

    formats = _formats(export_formats)
    sc = load_scenario(scenario)
    events = read_dr_events(dr_events) if dr_events is not None else None
    first_day = parse_date(start)
    state = read_end_state(continue_from) if continue_from is not None else None
    folder = out or Path("results") / sc.name
    keep_note(folder)
    with progress(quiet) as bar:
        result = run_scenario(
            sc, strategy, days=days, start=first_day, seed=seed,
            progress=bar.task(f"{sc.name} / {strategy}"), dr_events=events, start_state=state,
        )  # fmt: skip
        if peak_reference:
            from ersgrid.run.peak import without_v2g

            ref = run_scenario(
                without_v2g(sc), strategy, days=days, start=first_day, seed=seed,
                progress=bar.task(f"{sc.name} / {strategy} without V2G"), dr_events=events,
            )  # fmt: skip
            k = result.kpis
            k["peak_import_no_v2g_kw"] = ref.kpis["peak_import_kw"]
            k["peak_reduction_kw"] = ref.kpis["peak_import_kw"] - k["peak_import_kw"]
    status(f"writing {folder}/ (ledger, report) ...", quiet or as_json)
    write_results(result, folder, export=formats)
    k = result.kpis
    if as_json:
        print_json({"results": str(folder), "kpis": k})
        return
    print_tables(kpi_tables({result.strategy: k}))
    for note in result.notes:
        say(f"note: {note}")
    if peak_reference:
        say(
            f"peak import {format_value(k['peak_import_kw'], step=1)} kW, without V2G "
            f"{format_value(k['peak_import_no_v2g_kw'], step=1)} kW: peak_reduction_kw = "
            f"{format_value(k['peak_reduction_kw'], step=1)}"
        )
    extra = "".join(f", {name}" for name in _export_names(formats))
    say(
        f"results: {folder}/ (report.html, kpis.json, economics.json, timeseries.parquet, "
        f"trips.parquet{extra}); the year's economics: `ersgrid economics {folder}`"
    )
    say(
        f"ledger: {k['ledger_records']:,} records in {k['ledger_blocks']} blocks, settlement "
        f"balanced: {str(k['settlement_balanced']).lower()}; check it with "
        f"`ersgrid ledger verify {folder}`"
    )


def _export_names(formats: tuple[str, ...]) -> list[str]:
    return (["kpis.csv", "timeseries.csv", "trips.csv"] if "csv" in formats else []) + (
        ["results.xlsx"] if "xlsx" in formats else []
    )


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
    as_json: JsonOption = False,
    export_formats: Annotated[
        str | None,
        typer.Option(
            "--export",
            help="Also write csv, xlsx or csv,xlsx copies: each run's, and the KPIs side by "
            "side (compare.csv / compare.xlsx).",
        ),
    ] = None,
) -> None:
    """Run several strategies (and tariff designs) on one scenario; one table, one report."""
    from ersgrid.results import write_comparison
    from ersgrid.run.runner import run as run_scenario
    from ersgrid.scenario.loader import load_scenario

    names = [s.strip() for s in strategies.split(",") if s.strip()]
    if not names:
        raise ErsgridError("--strategies: give at least one strategy, e.g. uncontrolled,mpc")
    formats = _formats(export_formats)
    designs = _tariff_designs(scenario, tariffs)
    sc = load_scenario(scenario)
    first_day = parse_date(start)
    folder = out or Path("results") / f"{sc.name}-compare"
    keep_note(folder)
    results = []
    with progress(quiet) as bar:
        for (design, variant), name in itertools.product(designs.items(), names):
            label = name if design == "" else f"{name}@{design}"
            result = run_scenario(
                variant, name, days=days, start=first_day, seed=seed,
                progress=bar.task(f"{sc.name} / {label}"),
            )  # fmt: skip
            result.strategy = label
            results.append(result)
    status(f"writing {folder}/ ({len(results)} results folders, ledgers, report) ...", quiet)
    write_comparison(results, folder, export=formats)
    by_name = {r.strategy: r.kpis for r in results}
    if as_json:
        print_json({"results": str(folder), "kpis": by_name})
        return
    print_tables(kpi_tables(by_name))
    say(f"results: {folder}/ (report.html, compare.json, one folder per strategy)")


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


def validate(
    file: Annotated[str, typer.Argument(help="Scenario YAML file or built-in name.")],
    as_json: JsonOption = False,
) -> None:
    """Check a scenario without running it; exit 2 naming each field that is wrong."""
    from ersgrid.scenario.layout import build_layout
    from ersgrid.scenario.loader import load_scenario

    sc = load_scenario(file)
    layout = build_layout(sc)
    if as_json:
        print_json(
            {
                "ok": True, "scenario": sc.name, "length_km": sc.road.length_km,
                "electrified_km": sc.road.electrified_km, "segments": layout.n_segments,
                "substations": layout.n_substations,
            }
        )  # fmt: skip
        return
    ok(
        f"{sc.name}: {sc.road.length_km:g} km, {sc.road.electrified_km:g} km "
        f"electrified (both directions), {layout.n_segments} segments, "
        f"{layout.n_substations} substations"
    )


def scenarios(as_json: JsonOption = False) -> None:
    """List the built-in scenarios."""
    from ersgrid.scenario.loader import describe_builtins

    described = describe_builtins()
    if as_json:
        print_json(described)
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Built-in scenarios")
    table.add_column("name", no_wrap=True)
    table.add_column("description")
    for name, text in described.items():
        table.add_row(escape(name), escape(text))
    print_tables([table])


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


def export(
    folder: Annotated[
        Path, typer.Argument(help="Results folder of `ersgrid run` or `ersgrid compare`.")
    ],
    formats: Annotated[str, typer.Option("--format", help="csv, xlsx or csv,xlsx.")] = "csv",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the files written as JSON, and nothing else.")
    ] = False,
) -> None:
    """Write CSV or Excel copies of a results folder's KPIs, time series and trips.

    A run's folder gets kpis.csv, timeseries.csv and trips.csv (or results.xlsx with one
    sheet each); a comparison's gets them in each run's folder and compare.csv (or
    compare.xlsx) with the KPIs side by side. The Parquet files stay as they are.
    """
    from ersgrid.results.export import export_folder, parse_formats

    written = export_folder(folder, parse_formats(formats))
    if as_json:
        print_json([str(p) for p in written])
        return
    for path in written:
        say(f"written: {path}")
