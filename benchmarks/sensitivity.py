"""Cost of the network sensitivities the planner uses, against finite differences.

On shin-tomei's network (CIGRE MV with PV and wind, four road connections), at ``STEPS``
planning steps from 08:00 with the connections drawing random loads up to their ratings:

- the Jacobian way (:func:`ersgrid.grid.sensitivity.sensitivities`): one batch power flow
  and one more linear solve per step with one right-hand side per connection;
- finite differences (:func:`ersgrid.grid.sensitivity.finite_differences`): pandapower
  ``runpp`` at the point and with each connection's draw moved ±1 kW.

Prints CPU time (``time.process_time``) of each over ``REPEATS`` repeats (median, min, max),
their largest disagreement, and how far the sensitivities move between the draw without the
road and the draw at the substations' ratings (what a model's fixed coefficients miss).
"""

from __future__ import annotations

import os
import platform
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd

from ersgrid.grid.check import grid_inputs, prepare_case
from ersgrid.grid.powerflow import GridInputs
from ersgrid.grid.sensitivity import finite_differences, sensitivities
from ersgrid.scenario.loader import load_scenario
from ersgrid.world import build_world

STEPS = 8
REPEATS = 3


def _cpu(fn: object, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()  # type: ignore[operator]
        out.append(time.process_time() - t0)
    return out


def main() -> None:
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    sc = load_scenario("shin-tomei")
    assert sc.grid is not None
    subs = [s.id for s in sc.substations]
    rating = np.array([s.rating_kw for s in sc.substations])
    index = pd.date_range("2035-04-02 08:00", periods=STEPS, freq="15min", tz=sc.timezone)
    rng = np.random.default_rng(3)
    draw_kw = rating[None, :] * rng.uniform(0.0, 1.0, (STEPS, len(subs)))
    case = prepare_case(sc.grid, subs)
    inputs = grid_inputs(build_world(sc, index), case, draw_kw)
    n_bus, n_line, n_trafo = case.sizes
    print(f"network {sc.grid.network}: {n_bus} buses, {n_line} lines, {n_trafo} transformers, "
          f"{len(subs)} connections, {STEPS} steps, {REPEATS} repeats")  # fmt: skip
    jac = _cpu(lambda: sensitivities(case, inputs), REPEATS)
    fd = _cpu(lambda: finite_differences(case, inputs), REPEATS)
    for name, t in (("Jacobian (batch NR + one solve)", jac), ("finite differences (runpp)", fd)):
        print(f"{name:34s} CPU median {statistics.median(t) * 1000:9.1f} ms "
              f"(min {min(t) * 1000:.1f}, max {max(t) * 1000:.1f})")  # fmt: skip
    print(
        f"ratio finite differences / Jacobian: {statistics.median(fd) / statistics.median(jac):.0f}"
    )
    s = sensitivities(case, inputs)
    _, dv, dl, dt = finite_differences(case, inputs)
    print(f"largest disagreement: voltage {np.abs(s.dvm_pu_per_mw - dv).max():.1e} p.u./MW "
          f"(largest value {np.abs(dv).max():.1e}), "
          f"line {np.abs(s.dline_pct_per_mw - dl).max():.1e} %/MW, "
          f"transformer {np.abs(s.dtrafo_pct_per_mw - dt).max():.1e} %/MW")  # fmt: skip
    zero = sensitivities(case, GridInputs(inputs.load_factor, inputs.sgen_factor,
                                          np.zeros_like(inputs.conn_p_mw)))  # fmt: skip
    full = sensitivities(case, GridInputs(inputs.load_factor, inputs.sgen_factor,
                                          np.tile(rating / 1000.0, (STEPS, 1))))  # fmt: skip
    big = np.abs(zero.dvm_pu_per_mw) > 1e-6
    moved = np.abs(full.dvm_pu_per_mw - zero.dvm_pu_per_mw)[big] / np.abs(zero.dvm_pu_per_mw)[big]
    print(f"voltage sensitivities at the ratings against no road draw: median change "
          f"{np.median(moved):.1%}, largest {moved.max():.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
