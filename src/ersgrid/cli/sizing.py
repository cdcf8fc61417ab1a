"""``ersgrid size``: the storage unit size that minimises a year's cost, from typical days."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ersgrid.cli.console import fit_tables, format_value, print_json, print_tables, say
from ersgrid.cli.errors import on_interrupt

__all__ = ["size"]

_LINES = {
    "storage_energy_capital": "Storage energy part (capital + O&M)",
    "storage_power_capital": "Storage power part (capital + O&M)",
    "connection_capital": "Grid connections' import capacity (capital + O&M)",
    "pv_capital": "PV (capital + O&M)",
    "energy_bought": "Grid energy bought",
    "demand_charge": "Demand charge",
    "storage_wear_and_content": "Storage wear, less the content gained",
    "export_revenue": "Export to the grid",
    "energy_sales": "Energy sales to vehicles",
    "v2g": "V2G refunds, wear and payments",
    "unmet_need_penalty": "Unmet exit energy (penalty)",
    "network_penalty": "Excess over the network's limits (penalty)",
}


_STAGES = {
    "build": ("day LPs", "days"),
    "solve": ("sizing LP", "solves"),
    "profile": ("profile", "solves"),
}


def _size_label(name: str) -> str:
    kind, _, sub = name.partition("/")
    return f"PV at {sub} [kWp]" if kind == "pv_kwp" else f"Import capacity of {sub} [kW]"


def _bound(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def size(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    typical_days: Annotated[
        int,
        typer.Option(
            "--typical-days",
            "-k",
            min=1,
            max=366,
            help="Typical days the calendar year is clustered into; one LP per day.",
        ),
    ] = 12,
    year: Annotated[
        int | None,
        typer.Option(help="Calendar year (default: the year of the scenario's start)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Replace the scenario's random seed.")] = None,
    min_energy_kwh: Annotated[
        float | None, typer.Option(help="Least energy of each storage unit [kWh]; default 0.")
    ] = None,
    max_energy_kwh: Annotated[
        float | None, typer.Option(help="Most energy of each storage unit [kWh]; default none.")
    ] = None,
    energy_kwh: Annotated[
        float | None,
        typer.Option(help="Fix each unit's energy [kWh] (only the power is chosen)."),
    ] = None,
    min_power_kw: Annotated[
        float | None, typer.Option(help="Least power of each storage unit [kW]; default 0.")
    ] = None,
    max_power_kw: Annotated[
        float | None, typer.Option(help="Most power of each storage unit [kW]; default none.")
    ] = None,
    power_kw: Annotated[
        float | None,
        typer.Option(help="Fix each unit's power [kW] (only the energy is chosen)."),
    ] = None,
    connections: Annotated[
        bool,
        typer.Option(
            "--connections",
            help="Also size each grid connection's import capacity (grid.connections).",
        ),
    ] = False,
    min_capacity_kw: Annotated[
        float | None, typer.Option(help="Least import capacity of a connection [kW].")
    ] = None,
    max_capacity_kw: Annotated[
        float | None, typer.Option(help="Most import capacity of a connection [kW].")
    ] = None,
    pv: Annotated[
        bool,
        typer.Option(
            "--pv", help="Also size the PV at each substation with arrays (renewables.pv)."
        ),
    ] = False,
    min_pv_kwp: Annotated[
        float | None, typer.Option(help="Least PV at a substation [kWp].")
    ] = None,
    max_pv_kwp: Annotated[float | None, typer.Option(help="Most PV at a substation [kWp].")] = None,
    network: Annotated[
        bool,
        typer.Option(
            "--network/--no-network",
            help="With a grid section, plan each day within the network's limits, as the "
            "oracle does (default); --no-network: without them.",
        ),
    ] = True,
    profile_points: Annotated[
        int,
        typer.Option(
            help="Values of each size in the cost profile (each a warm re-solve; 0: none)."
        ),
    ] = 9,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to write sizing.json and sizing.html (the profile) into."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the sizing as JSON on stdout, and nothing else."),
    ] = False,
) -> None:
    """Size the stationary storage (with --connections also the grid connections' import
    capacity, with --pv the PV at each substation): the sizes that minimise the year's
    annualised capital plus operating cost, over typical days (one perfect-hindsight LP per
    day, stacked with the sizes as columns, solved by HiGHS)."""
    from ersgrid.cli.console import progress, status
    from ersgrid.errors import ScenarioError
    from ersgrid.report.sizing import SIZE_LABELS
    from ersgrid.results.economics import write_sizing
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.study.sizing import SizingOptions, size_storage
    from ersgrid.study.typical_days import typical_days as find_days

    for flag, fixed, lo, hi in (
        ("--energy-kwh", energy_kwh, min_energy_kwh, max_energy_kwh),
        ("--power-kw", power_kw, min_power_kw, max_power_kw),
    ):
        if fixed is not None and (lo is not None or hi is not None):
            raise ScenarioError(f"{flag}: fixes the size; leave out its --min and --max")
        if fixed is not None and not (fixed >= 0.0 and math.isfinite(fixed)):
            raise ScenarioError(f"{flag} {fixed:g}: give a size of 0 or more")
    options = SizingOptions(
        energy_kwh=(energy_kwh, energy_kwh) if energy_kwh is not None
        else (_bound(min_energy_kwh, 0.0), _bound(max_energy_kwh, math.inf)),
        power_kw=(power_kw, power_kw) if power_kw is not None
        else (_bound(min_power_kw, 0.0), _bound(max_power_kw, math.inf)),
        connections=connections,
        capacity_kw=(_bound(min_capacity_kw, 0.0), _bound(max_capacity_kw, math.inf)),
        pv=pv,
        pv_kwp=(_bound(min_pv_kwp, 0.0), _bound(max_pv_kwp, math.inf)),
        network=network,
        profile_points=profile_points,
    )  # fmt: skip
    if not pv and (min_pv_kwp is not None or max_pv_kwp is not None):
        raise ScenarioError("--min-pv-kwp/--max-pv-kwp: give --pv too")
    if not connections and (min_capacity_kw is not None or max_capacity_kw is not None):
        raise ScenarioError("--min-capacity-kw/--max-capacity-kw: give --connections too")
    options.check()
    sc = load_scenario(scenario)
    if seed is not None:
        sc = sc.model_copy(update={"seed": int(seed)})
    on_interrupt("nothing was written")
    quiet = quiet or as_json
    status(f"clustering the days of the year into {typical_days} ...", quiet)
    typical = find_days(sc, typical_days, year)
    with progress(quiet) as bar:
        ticks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            if stage not in ticks:
                label, unit = _STAGES[stage]
                ticks[stage] = bar.task(f"{sc.name} / {label}", unit=unit)
            ticks[stage](done, total)

        sizing = size_storage(sc, typical, options=options, progress=tick)
    written = write_sizing(out, sizing) if out is not None else None
    if as_json:
        print_json(
            {**({"written": str(written)} if written is not None else {}), **sizing.as_dict()}
        )
        return
    cur = sizing.currency
    subs = ", ".join(sizing.substations)
    units = f"{sizing.units} unit{'s' if sizing.units != 1 else ''}"
    print_tables(
        fit_tables(
            f"{sizing.scenario}: storage per unit ({units}: {subs})",
            "size",
            [SIZE_LABELS.get(k, _size_label(k)) for k in sizing.sizes],
            {"chosen": [format_value(v, step=1.0) for v in sizing.sizes.values()]},
        )
    )
    lines = dict(_LINES)
    print_tables(
        fit_tables(
            f"Annual cost over {len(typical.dates)} typical days [{cur}/a]",
            "line",
            [*lines.values(), "Total"],
            {
                f"{cur}/a": [format_value(sizing.breakdown[k], step=1.0) for k in lines]
                + [format_value(sizing.annual_cost, step=1.0)]
            },
        )
    )
    lp = sizing.lp
    say(
        f"LP: {lp['rows']:,} rows, {lp['columns']:,} columns, {lp['nonzeros']:,} non-zeros; "
        f"built in {sizing.build_s:.1f} s, solved in {sizing.solve_s:.1f} s"
    )
    if written is not None:
        say(f"written: {written}/ (sizing.json, sizing.html)")
