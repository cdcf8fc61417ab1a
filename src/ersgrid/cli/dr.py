"""``ersgrid dr``: demand response over OpenADR 2.0b."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ersgrid.cli.console import fit_tables, format_value, print_tables, say
from ersgrid.cli.errors import on_interrupt

if TYPE_CHECKING:
    from ersgrid.market.dr import DRPerformance
    from ersgrid.scenario.demand_response import DREventSpec

__all__ = ["dr_app"]

dr_app = typer.Typer(
    help="Demand response: take events from an OpenADR VTN, run, report back.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@dr_app.command("run")
def dr_run(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a YAML file.")],
    vtn_url: Annotated[
        str, typer.Option(help="VTN URL, e.g. http://127.0.0.1:8080/OpenADR2/Simple/2.0b")
    ],
    strategy: Annotated[
        str, typer.Option(help="Strategy that honours the caps (mpc, oracle).")
    ] = "mpc",
    days: Annotated[float, typer.Option(help="Simulated days.")] = 1.0,
    events: Annotated[int, typer.Option(help="Events to wait for before running.")] = 1,
    wait: Annotated[float, typer.Option(help="Longest wait for the events [s].")] = 60.0,
    out: Annotated[Path | None, typer.Option(help="Results folder.")] = None,
) -> None:
    """Register as a VEN, receive events, run the scenario with them, report the reduction.

    Events keep their local time of day and are placed on the scenario's first day(s).
    """
    from ersgrid.errors import ErsgridError
    from ersgrid.results import write_results
    from ersgrid.run.runner import run
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.service.openadr import DrVen, shift_to_run

    sc = load_scenario(scenario)
    folder = out or Path("results") / f"{sc.name}-dr"
    on_interrupt(f"{folder} is unchanged")

    async def session() -> None:
        ven = DrVen(vtn_url, sc)
        await ven.start()
        try:
            got = await ven.wait_for_events(events, wait)
            if not got:
                raise ErsgridError(f"no DR event from {vtn_url} within {wait:g} s")
            shifted = shift_to_run(got, sc.simulation.start)
            result = run(sc, strategy, days=days, dr_events=shifted)
            write_results(
                result, folder, also=lambda tmp: _write_csv(shifted, tmp / "dr_events.csv")
            )
            ven.publish(list(result.dr))
            _print(list(result.dr))
            say(f"results: {folder}/ (report.html, kpis.json, dr_events.json, dr_events.csv)")
            await asyncio.sleep(3.0)  # let the VTN collect the report
        finally:
            await ven.stop()

    asyncio.run(session())


def _print(perf: list[DRPerformance]) -> None:
    rows = [dataclasses.asdict(p) for p in perf]
    labels = ["opt in", "steps", "reduction [kWh]", "mean reduction [kW]", "max over cap [kW]",
              "honoured"]  # fmt: skip
    columns = {
        str(d["event_id"]): [
            format_value(d["opt_in"]), format_value(d["steps"]),
            format_value(d["reduction_kwh"], step=1), format_value(d["mean_reduction_kw"], step=1),
            format_value(d["max_excess_kw"], step=0.1), format_value(d["honoured"]),
        ]
        for d in rows
    }  # fmt: skip
    print_tables(fit_tables("Demand-response events", "event", labels, columns))


def _write_csv(events: list[DREventSpec], path: Path) -> None:
    rows = [e.model_dump() for e in events]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["event_id", "start", "end", "import_cap_kw",
                                                "shed_kw", "opt_in", "source"])  # fmt: skip
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r[k] for k in writer.fieldnames})
