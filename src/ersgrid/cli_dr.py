"""``ersgrid dr``: demand response over OpenADR 2.0b."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ersgrid.market.dr import DRPerformance
from ersgrid.scenario.demand_response import DREventSpec

dr_app = typer.Typer(help="Demand response: take events from an OpenADR VTN, run, report back.")
console = Console()


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
    from ersgrid.cli import _friendly
    from ersgrid.errors import ErsgridError
    from ersgrid.run.results import write_results
    from ersgrid.run.runner import run
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.service.openadr import DrVen, shift_to_run

    @_friendly
    def go() -> None:
        sc = load_scenario(scenario)

        async def session() -> None:
            ven = DrVen(vtn_url, sc)
            await ven.start()
            try:
                got = await ven.wait_for_events(events, wait)
                if not got:
                    raise ErsgridError(f"no DR event from {vtn_url} within {wait:g} s")
                shifted = shift_to_run(got, sc.simulation.start)
                folder = out or Path("results") / f"{sc.name}-dr"
                result = run(sc, strategy, days=days, dr_events=shifted)
                write_results(result, folder)
                ven.publish(list(result.dr))
                _print(list(result.dr))
                _write_csv(shifted, folder / "dr_events.csv")
                await asyncio.sleep(3.0)  # let the VTN collect the report
            finally:
                await ven.stop()

        asyncio.run(session())

    go()


def _print(perf: list[DRPerformance]) -> None:
    table = Table(title="Demand-response events")
    for col in ("event", "opt in", "steps", "reduction [kWh]", "mean [kW]", "max over cap [kW]",
                "honoured"):  # fmt: skip
        table.add_column(col)
    for p in perf:
        d = dataclasses.asdict(p)
        table.add_row(
            d["event_id"], str(d["opt_in"]), str(d["steps"]), f"{d['reduction_kwh']:,.0f}",
            f"{d['mean_reduction_kw']:,.0f}", f"{d['max_excess_kw']:,.1f}", str(d["honoured"]),
        )  # fmt: skip
    console.print(table)


def _write_csv(events: list[DREventSpec], path: Path) -> None:
    rows = [e.model_dump() for e in events]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["event_id", "start", "end", "import_cap_kw",
                                                "shed_kw", "opt_in", "source"])  # fmt: skip
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r[k] for k in writer.fieldnames})
