"""Benchmark: what learned forecasts are worth to ``mpc`` (docs/forecasting.md).

Runs ``shin-tomei`` under ``mpc`` (learned P50 traffic, PV forecasts), ``mpc-expected``
(expected traffic profile, realised PV) and ``oracle`` (realised arrivals and PV) over
Golden Week (from 2035-04-29, 3 days) and over ordinary weekdays (from 2035-06-05, 3 days),
and prints per run: objective, cost per kWh delivered, unmet energy, wall time, and the
forecast errors of the traffic and PV the ``mpc`` plans used against what happened.

Fitted models go to ``$ERSGRID_CACHE_DIR`` (the first run of a window fits them).

Run: ``.venv/bin/python benchmarks/forecast_in_the_loop.py [scenario] [window] [strategies]``
(window: ``golden-week`` or ``weekdays``, both by default; strategies: a comma list, all three
by default).
"""

from __future__ import annotations

import datetime as dt
import sys
import time

import numpy as np

from ersgrid import run
from ersgrid.scenario.schema import VEHICLE_CLASSES
from ersgrid.world.traffic import ers_fraction

WINDOWS = {"golden-week": dt.date(2035, 4, 29), "weekdays": dt.date(2035, 6, 5)}
STRATEGIES = ("mpc", "mpc-expected", "oracle")
DAYS = 3.0


def main(
    scenario: str = "shin-tomei", window: str | None = None, strategies: str | None = None
) -> None:
    names = STRATEGIES if strategies is None else tuple(strategies.split(","))
    for label, start in WINDOWS.items():
        if window is not None and label != window:
            continue
        print(f"\n{scenario}, {label}: {start} + {DAYS:g} d")
        print(f"{'strategy':14s} {'objective':>14s} {'cost/kWh':>9s} {'unmet kWh':>10s} "
              f"{'wall s':>7s}")  # fmt: skip
        for name in names:
            t0 = time.perf_counter()
            r = run(scenario, name, days=DAYS, start=start)
            wall = time.perf_counter() - t0
            k = r.kpis
            print(f"{name:14s} {k['objective']:14,.0f} {k['cost_per_kwh_delivered']:9.3f} "
                  f"{k['unmet_energy_kwh']:10,.1f} {wall:7.1f}")  # fmt: skip
            if name != "mpc":
                continue
            ts = r.timeseries
            sc = r.scenario
            arrivals = r.world.arrivals
            expected = r.world.expected_volume
            for klass in sc.vehicles:
                column = f"forecast_traffic_{klass}_veh"
                if column not in ts.columns:
                    continue
                share = ers_fraction(sc, klass)
                code = VEHICLE_CLASSES.index(klass)  # type: ignore[arg-type]
                mask = arrivals.vclass == code
                steps = (arrivals.time_s[mask] // 900.0).astype(int)
                actual = np.bincount(steps, minlength=len(ts))[: len(ts)].astype(float)
                learned = ts[column].to_numpy() * share
                naive = (expected[f"{klass}_A"] + expected[f"{klass}_B"]).to_numpy() * share
                mae_learned = np.abs(learned - actual).mean()
                mae_naive = np.abs(naive - actual).mean()
                print(f"  ERS {klass:6s} entries: actual {actual.sum():7.0f}, learned "
                      f"{learned.sum():7.0f} (MAE {mae_learned:.2f}/step), "
                      f"profile {naive.sum():7.0f} (MAE {mae_naive:.2f}/step)")  # fmt: skip
            for kind in ("pv", "wind"):
                if f"forecast_{kind}_p50_kw" not in ts.columns:
                    continue
                actual = ts[f"{kind}_kw"].to_numpy()
                p50 = ts[f"forecast_{kind}_p50_kw"].to_numpy()
                inside = (ts[f"forecast_{kind}_p10_kw"] <= ts[f"{kind}_kw"]) & (
                    ts[f"{kind}_kw"] <= ts[f"forecast_{kind}_p90_kw"]
                )
                print(f"  {kind}: actual {actual.sum() * 0.25:8.0f} kWh, P50 "
                      f"{p50.sum() * 0.25:8.0f} kWh, MAE {np.abs(p50 - actual).mean():7.1f} kW, "
                      f"P10-P90 covers {inside.mean():.0%} of steps")  # fmt: skip


if __name__ == "__main__":
    main(*sys.argv[1:])
