"""A year of a scenario as chained blocks, under a strategy and beside a peer, on one core.

Runs ``--days`` days (365 by default) from the scenario's start as blocks of
``--block-days`` days (7 by default: the forecasting models are re-fitted weekly in a long
run too), each block started from the end state of the one before
(``run(..., start_state=...)``: the road, the batteries, the meters and the strategy's
memory), first under ``--peer`` (``uncontrolled`` by default; ``none`` to skip it) and then
under ``--strategy`` (``mpc`` by default, or ``mpc:<preset>``). Prints, for each block as it
ends, its wall and CPU time and the time so far with the time left at that pace; at the end
the whole run's wall and CPU time, each block's median, the year's KPIs combined from the
blocks (:func:`~ersgrid.run.kpis.combine_kpis`), checked against the blocks' own sums and
peaks, and the strategy's objective, unmet energy and limit violations beside the peer's.

The first run of a scenario and start fits the forecasting models of its first block (about
a minute; later runs load them from the cache); the later blocks fit theirs as they come,
once a week of run time, and that time is counted. Nothing is written.

Usage: ``python benchmarks/mpc_year.py [--scenario shin-tomei] [--strategy mpc:every-step]
[--days 365] [--block-days 7] [--peer uncontrolled]``
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Mapping
from typing import Any

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from ersgrid import load_scenario, run
from ersgrid.control.registry import make_strategy
from ersgrid.run.kpis import combine_kpis

SUMMED = ("energy_delivered_kwh", "import_cost", "energy_cost", "co2_kg", "trips",
          "unmet_energy_kwh", "limit_violations", "days")  # fmt: skip


def chained(scenario: Any, strategy: str, days: float, block_days: float) -> dict[str, Any]:
    """Run ``days`` as chained blocks; the blocks' KPIs and times."""
    n = math.ceil(days / block_days - 1e-9)
    kpis: list[Mapping[str, Any]] = []
    wall: list[float] = []
    cpu: list[float] = []
    state = None
    t_start = time.perf_counter()
    for i in range(n):
        length = min(block_days, days - i * block_days)
        t0, c0 = time.perf_counter(), time.process_time()
        result = run(scenario, make_strategy(strategy), days=length, start_state=state)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        state = result.end_state
        kpis.append(result.kpis)
        so_far = time.perf_counter() - t_start
        left = so_far / (i + 1) * (n - i - 1)
        first = result.timeseries.index[0]
        print(
            f"  {strategy} block {i + 1}/{n} ({length:g} d from {first:%Y-%m-%d}):"
            f" {wall[-1]:.1f} s wall, {cpu[-1]:.1f} s CPU; {so_far / 60:.1f} min so far,"
            f" about {left / 60:.1f} min left; load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return {"kpis": kpis, "wall": wall, "cpu": cpu}


def check_combined(blocks: list[Mapping[str, Any]], year: Mapping[str, Any]) -> None:
    """The combined KPIs are the blocks' sums and highest peak; raises if not."""
    for key in SUMMED:
        if key in year:
            total = sum(float(b[key]) for b in blocks)
            if not math.isclose(float(year[key]), total, rel_tol=1e-9, abs_tol=1e-9):
                raise SystemExit(f"combined {key} {year[key]} is not the blocks' sum {total}")
    peak = max(float(b["peak_import_kw"]) for b in blocks)
    if not math.isclose(float(year["peak_import_kw"]), peak, rel_tol=1e-12):
        raise SystemExit(f"combined peak {year['peak_import_kw']} is not the blocks' {peak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="shin-tomei")
    parser.add_argument("--strategy", default="mpc")
    parser.add_argument("--peer", default="uncontrolled", help="'none' to run no peer")
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--block-days", type=float, default=7.0)
    args = parser.parse_args()
    if not 0 < args.block_days <= args.days:
        parser.error("give 0 < --block-days <= --days")
    sc = load_scenario(args.scenario)
    print(
        f"{args.scenario}: {args.days:g} days as blocks of {args.block_days:g} d, "
        f"{os.cpu_count()} cores, one used; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    strategies = [args.strategy] if args.peer == "none" else [args.peer, args.strategy]
    years: dict[str, dict[str, Any]] = {}
    for name in strategies:
        runs = chained(sc, name, args.days, args.block_days)
        year = combine_kpis(runs["kpis"])
        check_combined(runs["kpis"], year)
        years[name] = year
        total_wall, total_cpu = sum(runs["wall"]), sum(runs["cpu"])
        print(
            f"{name}: {total_wall / 60:.1f} min wall, {total_cpu / 60:.1f} min CPU for "
            f"{year['days']:g} days ({total_wall / year['days']:.2f} s wall a day; block median "
            f"{statistics.median(runs['wall']):.1f} s); objective {year['objective']:,.0f}, "
            f"energy delivered {year['energy_delivered_kwh']:,.0f} kWh, unmet "
            f"{year['unmet_energy_kwh']:,.0f} kWh, peak {year['peak_import_kw']:,.1f} kW, "
            f"limit violations {year['limit_violations']}; combined KPIs equal the blocks' "
            "sums and highest peak",
            flush=True,
        )
    if len(years) == 2:
        peer, own = (years[s] for s in strategies)
        print(
            f"{args.strategy} against {args.peer}: objective "
            f"{own['objective'] - peer['objective']:+,.0f}, unmet energy "
            f"{own['unmet_energy_kwh'] - peer['unmet_energy_kwh']:+,.0f} kWh, limit violations "
            f"{own['limit_violations']} against {peer['limit_violations']}"
        )


if __name__ == "__main__":
    main()
