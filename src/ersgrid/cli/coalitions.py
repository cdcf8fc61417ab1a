"""``ersgrid coalitions``: the road's margin shared by the worth each partner adds in runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from ersgrid.cli.console import fit_tables, format_value, print_json, print_tables, progress, say
from ersgrid.cli.errors import on_interrupt
from ersgrid.cli.runs import DaysOption, JsonOption, QuietOption, StartOption, parse_date
from ersgrid.errors import ErsgridError

__all__ = ["coalitions"]


def _money(value: float | None) -> str:
    return "" if value is None else format_value(value, step=1.0)


def coalitions(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    strategy: Annotated[
        str,
        typer.Option(
            help="Strategy of every coalition's run (uncontrolled, tou, mpc, oracle, or "
            "package.module:ClassName)."
        ),
    ] = "uncontrolled",
    days: DaysOption = 1.0,
    start: StartOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for coalitions.json (default: results/<scenario>-coalitions)."),
    ] = None,
    rule: Annotated[
        str,
        typer.Option(
            help="Rule whose shares coalitions.json offers for settlement.computed_shares: "
            "shapley, shapley_sampled, nucleolus, least_core or proportional_assets."
        ),
    ] = "shapley",
    samples: Annotated[
        int, typer.Option(help="Random join orders of the sampled Shapley values.", min=2)
    ] = 1000,
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run every coalition of road operator, retailer, storage and PV owner and automaker,
    take each one's margin as its worth, and share the whole margin by Shapley, nucleolus,
    least core and assets, each checked against the core; writes coalitions.json."""
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.study.coalitions import PLAYER_LABELS, RULES, coalition_label, run_coalitions

    if rule not in RULES:
        raise ErsgridError(f"--rule {rule!r}: use one of {', '.join(RULES)}")
    sc = load_scenario(scenario)
    first_day = parse_date(start)
    folder = out or Path("results") / f"{sc.name}-coalitions"
    on_interrupt(f"{folder} is unchanged")
    with progress(quiet or as_json) as bar:
        tick = bar.task(f"coalitions of {sc.name} / {strategy}", unit="runs")
        study = run_coalitions(
            sc, strategy, days=days, start=first_day, progress=tick, samples=samples
        )
    data = study.as_dict(rule) if rule in {a.rule for a in study.allocations} else None
    if data is None:
        have = ", ".join(a.rule for a in study.allocations)
        raise ErsgridError(f"--rule {rule}: this game has no such allocation (it has {have})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "coalitions.json"
        tmp = folder / ".coalitions.json.tmp"
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except (OSError, ValueError) as err:
        raise ErsgridError(f"--out {folder}: cannot write coalitions.json: {err}") from None
    if as_json:
        print_json({"written": str(path), **data})
        return
    cur = study.currency
    print_tables(
        fit_tables(
            f"{study.scenario} / {study.strategy}: worth of each coalition, {study.days:g} "
            f"day(s) from {study.start}",
            "coalition",
            [coalition_label(r.members, short=True) for r in study.runs],
            {
                f"v(S) = margin [{cur}]": [_money(r.worth) for r in study.runs],
                "delivered [kWh]": [
                    format_value(r.kpis.get("energy_delivered_kwh"), step=1.0) for r in study.runs
                ],
                "run [s]": [format_value(r.wall_time_s, step=0.1) for r in study.runs],
            },
        )
    )
    allocs = study.allocations
    labels = [PLAYER_LABELS[p] for p in study.players]
    columns: dict[str, list[str]] = {}
    for a in allocs:
        cells = [_money(a.amounts[p]) for p in study.players]
        if a.std_errors is not None:
            cells = [
                f"{c} ±{_money(a.std_errors[p])}" for c, p in zip(cells, study.players, strict=True)
            ]
        shares = a.shares()
        cells += [
            "yes" if a.check.in_core else "no",
            "yes" if a.check.individually_rational else "no",
            _money(a.check.max_excess),
            "" if shares is None else format_value(shares[study.players[0]], step=0.001),
        ]
        columns[a.rule] = cells
    print_tables(
        fit_tables(
            f"Allocations of v(N) = {_money(study.worth(frozenset(study.players)))} {cur}",
            "player",
            [
                *labels,
                "in core",
                "individually rational",
                f"max excess [{cur}]",
                "road operator's share [-]",
            ],
            columns,
        )
    )
    lc = study.allocation("least_core")
    say(
        f"least core: epsilon = {_money(lc.epsilon)} {cur} ("
        + (
            "the core is empty"
            if lc.epsilon is not None and lc.epsilon > lc.check.tolerance
            else "the core is not empty"
        )
        + f"); core tolerance {lc.check.tolerance:.3g} {cur}; flat price without the retailer "
        f"{format_value(study.reference_price_per_kwh, step=0.01)} {cur}/kWh"
    )
    if study.dropped:
        say(f"not players (they bring nothing to this scenario): {', '.join(study.dropped)}")
    if data["settlement"] is None:
        say("the grand coalition earns no margin: no shares to settle by")
    else:
        shown = {k: round(v, 6) for k, v in data["settlement"]["computed_shares"].items()}
        say(
            f"to settle by {rule}, put in the scenario: settlement: {{benefit_sharing: "
            f"computed, computed_shares: {json.dumps(shown)}}}"
        )
    say(f"{len(study.runs)} runs in {study.wall_time_s:.1f} s; written: {path}")
