"""Grid check speed: a week of shin-tomei on its default network, and a 1-year study.

Runs the week under the uncontrolled strategy, then times the power flow of every planning
step three ways on the same injections:

- pandapower ``runpp`` per step, cold (``init='auto'``, flat start),
- pandapower ``runpp`` per step, warm-started (``init='results'``),
- the batch Newton-Raphson of :mod:`ersgrid.grid.powerflow` (all steps at once),

checks that all three agree, and times the batch solver on a full year (the week's road load
tiled over 52 weeks with the year's own load profiles and weather). Prints the figures and the
machine.
"""

from __future__ import annotations

import os
import platform
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from ersgrid.grid.check import grid_inputs, prepare_case
from ersgrid.grid.powerflow import solve_batch, solve_pandapower
from ersgrid.run import run
from ersgrid.world import build_world, connection_balance

STEPS_PER_YEAR = 35040
WARM = "pandapower runpp, warm (init='results')"


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    import pandapower

    print(f"pandapower {pandapower.__version__}, numba=False")
    t0 = time.perf_counter()
    result = run("shin-tomei", "uncontrolled", days=7)
    print(f"week of shin-tomei (twin + energy + grid check): {time.perf_counter() - t0:.1f} s")
    scenario = result.scenario
    assert scenario.grid is not None
    subs = [s.id for s in scenario.substations]
    ts = result.timeseries
    index = pd.DatetimeIndex(ts.index)
    road = np.column_stack([ts[f"road_power_{s}_kw"].to_numpy() for s in subs])
    energy = build_world(scenario, index).energy
    imp, exp, _ = connection_balance(road, energy)
    case = prepare_case(scenario.grid, subs)
    t = time.perf_counter()
    inputs = grid_inputs(build_world(scenario, index), case, imp - exp)
    prep = time.perf_counter() - t
    n = len(index)
    print(
        f"network {scenario.grid.network}: {len(case.bus_names)} buses, "
        f"{len(case.line_names)} lines, {len(case.trafo_names)} transformers; {n} steps"
    )
    print(f"inputs (profiles, weather): {prep:.3f} s")
    import pandapower as pp

    bare = {}
    for init in ("auto", "results"):
        t = time.perf_counter()
        for _ in range(50):
            pp.runpp(case.net, numba=False, init=init)
        bare[init] = (time.perf_counter() - t) / 50
    print(
        f"bare runpp on the nominal network (peer figure, no injections changed): "
        f"cold {bare['auto'] * 1e3:.1f} ms, warm {bare['results'] * 1e3:.1f} ms"
    )
    timings = {}
    t = time.perf_counter()
    cold = solve_pandapower(case, inputs, warm=False)
    timings["pandapower runpp, cold"] = time.perf_counter() - t
    t = time.perf_counter()
    warm = solve_pandapower(case, inputs, warm=True)
    timings[WARM] = time.perf_counter() - t
    t = time.perf_counter()
    fast = solve_batch(case, inputs)
    timings["batch Newton-Raphson"] = time.perf_counter() - t
    for name, secs in timings.items():
        print(
            f"  {name:42s} {secs / n * 1e3:8.3f} ms/step  ({secs:6.2f} s for the week, "
            f"1-year estimate {secs / n * STEPS_PER_YEAR / 60:6.1f} min)"
        )
    print(
        f"  iterations: cold mean {cold.iterations.mean():.2f}, warm {warm.iterations.mean():.2f}, "
        f"batch mean {fast.iterations.mean():.2f} max {fast.iterations.max()}"
    )
    dv = max(np.nanmax(np.abs(fast.vm_pu - cold.vm_pu)), np.nanmax(np.abs(fast.vm_pu - warm.vm_pu)))
    dl = np.nanmax(np.abs(fast.line_loading_pct - warm.line_loading_pct))
    dt = np.nanmax(np.abs(fast.trafo_loading_pct - warm.trafo_loading_pct))
    print(
        f"  agreement: |dV| <= {dv:.2e} p.u., |d line loading| <= {dl:.2e} %, "
        f"|d trafo loading| <= {dt:.2e} %"
    )
    speedup = timings[WARM] / timings["batch Newton-Raphson"]
    print(f"  speed-up of batch over warm runpp: {speedup:.0f}x")
    k = result.kpis
    print(
        f"  week KPIs: voltage_violations {k['voltage_violations']}, loading_violations "
        f"{k['loading_violations']}, min_voltage_pu {k['min_voltage_pu']:.4f}, "
        f"max_loading_pct {k['max_loading_pct']:.1f}"
    )

    year = pd.date_range(index[0], periods=STEPS_PER_YEAR, freq="15min")
    draw = np.tile(imp - exp, (STEPS_PER_YEAR // n + 1, 1))[:STEPS_PER_YEAR]
    t = time.perf_counter()
    year_inputs = grid_inputs(build_world(scenario, year), case, draw)
    prep_year = time.perf_counter() - t
    t = time.perf_counter()
    year_result = solve_batch(case, year_inputs)
    solve_year = time.perf_counter() - t
    print(
        f"1-year study ({STEPS_PER_YEAR} steps), measured: inputs {prep_year:.1f} s, batch "
        f"power flow {solve_year:.1f} s ({solve_year / STEPS_PER_YEAR * 1e3:.3f} ms/step), "
        f"all converged: {bool(year_result.converged.all())}"
    )


if __name__ == "__main__":
    main()
