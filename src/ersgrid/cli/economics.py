"""``ersgrid economics``: what a run's road costs and earns in a year, and for whom."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ersgrid.cli.console import fit_tables, format_value, print_json, print_tables, say
from ersgrid.cli.errors import on_interrupt

if TYPE_CHECKING:
    from ersgrid.study.economics import Economics

__all__ = ["economics", "economics_year", "print_economics"]

_STREAMS = {
    "energy_sales": "Energy sales to vehicles",
    "export_revenue": "Export to the grid",
    "reserve_revenue": "Frequency-reserve capacity",
    "grid_energy_bought": "Grid energy bought",
    "stored_energy_value": "Value the batteries gained",
    "renewable_purchase": "Local renewables bought",
    "v2g_refunds": "V2G refunds to owners",
    "v2g_payments": "V2G payments to owners",
    "demand_charge": "Demand charge",
    "v2g_wear_cost": "V2G wear (vehicle owners)",
}


def _money(value: Any) -> str:
    return format_value(value, step=1.0)


def economics(
    folder: Annotated[Path, typer.Argument(help="Results folder of `ersgrid run`.")],
    reserve: Annotated[
        Path | None,
        typer.Option(
            help="reserve.json of `ersgrid reserve` on the same scenario and days: its "
            "capacity payment counts as the road's income."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the economics as JSON on stdout, and nothing else."),
    ] = False,
) -> None:
    """Capital, annual costs and revenues, NPV, IRR, payback, LCOE and each party's profit
    and loss of a run; writes economics.json into the folder."""
    from ersgrid.results.economics import folder_economics, write_economics

    on_interrupt(f"{folder} is unchanged")
    econ = folder_economics(folder, reserve)
    path = write_economics(folder, econ)
    data = econ.as_dict()
    if as_json:
        print_json({"written": str(path), **data})
        return
    print_economics(econ, f"{econ.days:g} day(s) scaled ×{econ.scale:g} to a year")
    say(f"written: {path}")


def print_economics(econ: Economics, basis: str) -> None:
    """The economics' tables: assets, the year's figures, and each party's profit and loss
    (``basis`` says how the run stands for the year)."""
    cur = econ.currency
    assets = econ.assets
    print_tables(
        fit_tables(
            f"Assets ({basis})",
            "asset",
            [a.name for a in assets] + ["all"],
            {
                "quantity": [f"{format_value(a.quantity)} {a.unit}" for a in assets] + [""],
                f"capex [{cur}]": [_money(a.capex) for a in assets] + [_money(econ.capex)],
                f"O&M [{cur}/a]": [_money(a.om_per_year) for a in assets] + [""],
                "life [a]": [format_value(a.lifetime_years) for a in assets] + [""],
                f"annualised [{cur}/a]": [_money(a.annualised) for a in assets] + [""],
                "carried by": [a.carrier for a in assets] + [""],
            },
        )
    )
    rows = {label: econ.streams[key] for key, label in _STREAMS.items() if econ.streams[key]}
    figures = {
        **{f"{label} [{cur}/a]": _money(v) for label, v in rows.items()},
        f"Road's operating margin [{cur}/a]": _money(econ.operating_margin),
        f"Road's capital, annualised [{cur}/a]": _money(econ.road_annualised_capital),
        f"Road's capital [{cur}]": _money(econ.road_capex),
        f"NPV over {len(econ.cash_flows) - 1} a [{cur}]": _money(econ.npv),
        "IRR [1/a]": "none (no sign change)" if econ.irr is None else f"{econ.irr:.4f}",
        "Discounted payback [a]": (
            "not within the horizon"
            if econ.discounted_payback_years is None
            else format_value(econ.discounted_payback_years, step=0.1)
        ),
        "Energy delivered [kWh/a]": format_value(econ.energy_delivered_kwh_per_year, step=1.0),
        f"Total cost of delivery [{cur}/a]": _money(econ.annual_total_cost),
        f"LCOE, capital included [{cur}/kWh]": format_value(econ.lcoe_per_kwh, step=0.01),
    }
    print_tables(fit_tables("The year", "figure", list(figures), {"value": list(figures.values())}))
    if econ.parties:
        parties = list(econ.parties.values())
        print_tables(
            fit_tables(
                f"Profit and loss per party [{cur}/a]",
                "party",
                [p.name for p in parties],
                {
                    "settled": [_money(sum(p.lines.values())) for p in parties],
                    "outside ledger": [_money(sum(p.outside.values())) for p in parties],
                    "capital": [_money(-p.capital) for p in parties],
                    "net": [_money(p.net) for p in parties],
                },
            )
        )
    else:
        say("no settlement statements: no profit and loss per party")
    cf = econ.counterfactuals
    if cf is not None:
        opts = list(cf.options.values())
        trips = sum(c.trips for c in cf.classes)
        print_tables(
            fit_tables(
                f"Against the counterfactuals ({trips} trips, "
                f"{format_value(cf.energy_kwh, step=1.0)} kWh delivered, "
                f"{format_value(cf.vehicle_km, step=1.0)} vehicle-km)",
                "option",
                [o.label for o in opts],
                {
                    f"cost [{cur}/kWh]": [format_value(o.cost_per_kwh, step=0.01) for o in opts],
                    f"cost [{cur}/vkm]": [
                        format_value(o.cost_per_vehicle_km, step=0.01) for o in opts
                    ],
                    "CO2 [kg/kWh]": [format_value(o.co2_kg_per_kwh, step=0.001) for o in opts],
                    "CO2 [kg/vkm]": [
                        format_value(o.co2_kg_per_vehicle_km, step=0.001) for o in opts
                    ],
                },
            )
        )
        for note in cf.notes:
            say(note)


def economics_year(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    typical_days: Annotated[
        int,
        typer.Option(
            "--typical-days",
            "-k",
            min=1,
            max=366,
            help="Typical days the calendar year is clustered into; each runs as one day.",
        ),
    ] = 12,
    strategy: Annotated[
        str, typer.Option(help="Strategy of every typical day's run (as for `ersgrid run`).")
    ] = "uncontrolled",
    year: Annotated[
        int | None,
        typer.Option(help="Calendar year (default: the year of the scenario's start)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Replace the scenario's random seed.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write typical_days.json, kpis.json (the year's) and "
            "economics.json into."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress.")] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the economics as JSON on stdout, and nothing else."),
    ] = False,
) -> None:
    """The economics of a calendar year from typical days: the year's days clustered on the
    scenario's traffic, renewables, loads and prices, each typical day run once, their KPIs
    weighed by the days they stand for."""
    from ersgrid.cli.console import progress, status
    from ersgrid.results.economics import write_year
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.study.typical_days import representative_year, year_economics
    from ersgrid.study.typical_days import typical_days as find_days

    sc = load_scenario(scenario)
    if seed is not None:
        sc = sc.model_copy(update={"seed": int(seed)})
    on_interrupt("nothing was written")
    status(f"clustering the days of the year into {typical_days} ...", quiet or as_json)
    typical = find_days(sc, typical_days, year)
    with progress(quiet or as_json) as bar:
        result = representative_year(
            sc, strategy, typical, progress=bar.task(f"{sc.name} / {strategy}", unit="days")
        )
    econ = year_economics(sc, result)
    written = write_year(out, result, econ) if out is not None else None
    if as_json:
        print_json(
            {
                **({"written": str(written)} if written is not None else {}),
                **result.typical.as_dict(),
                "kpis": result.kpis,
                "economics": econ.as_dict(),
            }
        )
        return
    t = result.typical
    print_tables(
        fit_tables(
            f"{t.year}: {len(t.dates)} typical days ({strategy})",
            "typical day",
            [d.isoformat() for d in t.dates],
            {
                "days [d]": [str(w) for w in t.weights],
                "energy delivered [kWh/d]": [
                    format_value(k["energy_delivered_kwh"], step=1.0) for k in result.day_kpis
                ],
                f"energy cost [{econ.currency}/d]": [
                    _money(k["energy_cost"]) for k in result.day_kpis
                ],
                "peak import [kW]": [
                    format_value(k["peak_import_kw"], step=1.0) for k in result.day_kpis
                ],
            },
        )
    )
    print_economics(econ, f"{t.days_in_year} days from {len(t.dates)} typical days")
    if written is not None:
        say(f"written: {written}/ (typical_days.json, kpis.json, economics.json)")
