"""``ersgrid size`` against the twin on a full corridor: estimate, realised cost, sweep.

    python benchmarks/sizing_check.py [--scenario shin-tomei] [-k 12] [--no-network]
                                      [--sweep 0,300,600,900,1200,1800]

sizes the storage over K typical days (no profile), runs the representative year under
``oracle`` with the chosen sizes (the sized year's peak as the tariff's demand target) and
prints the estimate, the realised cost and, per typical day, the LP's and the twin's terms
side by side (unmet-need penalty, energy bought, sales to vehicles, the day's peak; the LP's
day terms unweighted, at the sizes chosen). With ``--sweep`` it also prints the realised cost
of each storage energy [kWh] at the chosen power (each point the representative year run by
the twin, at the same demand target), and how many grid steps its lowest point lies from the
sizing's choice. Each realised year is about a minute on shin-tomei; the load average is
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.optimize.columns import COLUMN_BLOCKS
from ersgrid.optimize.sizing import SizingLP
from ersgrid.optimize.solver import HighsSession
from ersgrid.scenario.loader import load_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.study.sizing import (
    SizingOptions,
    build_sizing,
    realised_cost,
    size_storage,
    storage_sweep,
    with_sizes,
    year_scale,
)
from ersgrid.study.typical_days import TypicalDays, representative_year, typical_days
from sizing import commit  # the sizing benchmark beside this script


def _day_terms(values: npt.NDArray[np.float64], lp: SizingLP, day: int) -> dict[str, float]:
    """The unweighted cost of day ``day``'s column blocks [currency], and its peak [kW]."""
    m = lp.days[day]
    x = lp.day_values(values, day)
    names = list(COLUMN_BLOCKS)
    out = {}
    for i, name in enumerate(names):
        stop = m.offsets[names[i + 1]] if i + 1 < len(names) else m.n_cols
        out[name] = float(m.cost[m.offsets[name] : stop] @ x[m.offsets[name] : stop])
    out["peak_kw"] = float(x[m.offsets["peak"]])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="shin-tomei")
    ap.add_argument("-k", type=int, default=12)
    ap.add_argument("--no-network", action="store_true")
    ap.add_argument("--sweep", default="", help="storage energies [kWh], comma-separated")
    args = ap.parse_args()
    print(f"commit {commit()}, load average {os.getloadavg()}")
    sc = load_scenario(args.scenario)
    td = typical_days(sc, args.k)
    network = not args.no_network
    t0 = time.perf_counter()
    sz = size_storage(sc, td, options=SizingOptions(network=network, profile_points=0))
    e, p = sz.sizes["storage_energy_kwh"], sz.sizes["storage_power_kw"]
    print(
        f"sizes per unit: {e:.1f} kWh, {p:.1f} kW; year's peak {sz.sizes['year_peak_kw']:,.0f} kW"
    )
    print(
        f"estimate {sz.annual_cost / 1e6:,.2f} M {sz.currency}/a ({time.perf_counter() - t0:.0f} s)"
    )
    for line, value in sz.breakdown.items():
        print(f"  {line:28s} {value / 1e6:12,.2f} M")
    fixed = SizingOptions((e, e), (p, p), network=network, profile_points=0)
    lp = build_sizing(sc, td, fixed)
    values = HighsSession(lp, threads=1).solve_bounds(lp.bounds()).values
    t1 = time.perf_counter()
    target = sz.sizes["year_peak_kw"]
    real, kpis = realised_cost(with_sizes(sc, e, p, demand_target_kw=target), td, "oracle")
    print(
        f"realised {real / 1e6:,.2f} M {sz.currency}/a ({real / sz.annual_cost - 1:+.1%}, "
        f"{time.perf_counter() - t1:.0f} s); year's peak {kpis['peak_import_kw']:,.0f} kW, "
        f"demand charge {kpis['demand_charge'] / 1e6:,.2f} M, unmet-need penalty "
        f"{kpis['shortfall_penalty'] / 1e6:,.2f} M, network penalty "
        f"{(kpis.get('network_penalty') or 0.0) / 1e6:,.2f} M (scale {year_scale(sc, td):.4f})"
    )
    year = [dict(k) for k in _representative_days(sc, e, p, target, td)]
    print(
        "day        weight | LP: penalty  bought   sales  peak kW"
        " | twin: penalty  bought   sales  peak kW"
    )
    for d, (day, w) in enumerate(zip(td.dates, td.weights, strict=True)):
        t = _day_terms(values, lp, d)
        k = year[d]
        print(
            f"{day} {w:6d} | {(t['u'] + lp.days[d].objective_offset) / 1e6:9.3f} "
            f"{t['imp'] / 1e6:8.3f} {-t['x'] / 1e6:7.3f} "
            f"{t['peak_kw']:8,.0f} | {k['shortfall_penalty'] / 1e6:9.3f} "
            f"{k['grid_energy_cost'] / 1e6:8.3f} {k['revenue'] / 1e6:7.3f} "
            f"{k['peak_import_kw']:8,.0f}"
        )
    if args.sweep:
        grid = [float(v) for v in args.sweep.split(",")]
        t2 = time.perf_counter()
        costs = storage_sweep(sc, td, grid, p, "oracle", demand_target_kw=target)
        print(
            f"sweep at {p:.1f} kW, demand target {target:,.0f} kW "
            f"({time.perf_counter() - t2:.0f} s):"
        )
        for v, c in zip(grid, costs, strict=True):
            print(f"  {v:8.1f} kWh  {c / 1e6:12,.2f} M {sz.currency}/a")
        best = grid[int(np.argmin(costs))]
        steps = np.diff(sorted(grid))
        print(
            f"lowest at {best:.1f} kWh: {abs(best - e):.1f} kWh from the sizing's {e:.1f} kWh "
            f"({abs(best - e) / float(steps.max(initial=1.0)):.2f} grid steps)"
        )
    print(f"load average {os.getloadavg()}")


def _representative_days(
    sc: Scenario, e: float, p: float, target_kw: float, td: TypicalDays
) -> list[dict[str, Any]]:
    """Each typical day's KPIs under ``oracle`` with units of ``e`` kWh and ``p`` kW and the
    demand target ``target_kw``."""
    return representative_year(
        with_sizes(sc, e, p, demand_target_kw=target_kw), "oracle", td
    ).day_kpis


if __name__ == "__main__":
    main()
