"""The grid check of a run: power flow at every planning step, violations counted.

The check runs after the run's loop and does not feed back into the twin: it tells a planner
whether the road's load, with the network's own loads and generation, keeps voltages in
the band and lines and transformers within their ratings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.networks import SIMBENCH_PREFIX, load_network, simbench_factors
from ersgrid.data.profiles import bdew_energy_share, bdew_peak_share
from ersgrid.errors import GridError
from ersgrid.grid.powerflow import (
    GridCase,
    GridInputs,
    PowerFlowResult,
    compile_case,
    in_service,
    solve_batch,
    solve_pandapower,
)
from ersgrid.grid.sensitivity import excess_kw_eq
from ersgrid.scenario.energy import GridSpec
from ersgrid.world.world import World

__all__ = ["GridCheck", "count_violations", "grid_inputs", "prepare_case", "run_grid_check"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class GridCheck:
    """Power-flow results of a run and their violations.

    Attributes
    ----------
    result : PowerFlowResult
    bus_names, line_names, trafo_names : list of str
    voltage_violations : int
        Bus-steps with a voltage outside the scenario's band [-].
    loading_violations : int
        Line- and transformer-steps loaded above ``loading_max_pct`` [-].
    min_voltage_pu, max_voltage_pu : float [p.u.]
    max_loading_pct : float [%]
    failures : list of str
        One message per step whose power flow did not converge (``record`` mode).
    excess_kw_eq : ndarray [kW-equivalent], shape (steps,)
        Each step's excess over the voltage band and loading limits that the controlled draw
        caused, in kW of draw at the most effective connection
        (:func:`~ersgrid.grid.sensitivity.excess_kw_eq`).
    """

    result: PowerFlowResult
    bus_names: list[str]
    line_names: list[str]
    trafo_names: list[str]
    voltage_violations: int
    loading_violations: int
    min_voltage_pu: float
    max_voltage_pu: float
    max_loading_pct: float
    failures: list[str] = field(default_factory=list)
    excess_kw_eq: FloatArray = field(default_factory=lambda: np.zeros(0))


def prepare_case(spec: GridSpec, sub_ids: list[str]) -> GridCase:
    """Load the scenario's network and compile it with the road's connections."""
    bus_of = {c.substation: c.bus for c in spec.connections}
    return compile_case(
        load_network(spec.network), [bus_of[s] for s in sub_ids], spec.road_power_factor
    )


def _profile_of(name: str, profiles: Mapping[str, str]) -> str:
    best = ""
    for prefix in profiles:
        if name.startswith(prefix) and len(prefix) >= len(best):
            best = prefix
    if best not in profiles:
        raise GridError(
            f"grid.network_load_profiles: no profile for network load {name!r}; add a '' entry"
        )
    return profiles[best]


def grid_inputs(world: World, case: GridCase, conn_p_kw: FloatArray) -> GridInputs:
    """Injections of each step: network loads by BDEW profile (each load's p_mw is its peak),
    network PV and wind units by the world's weather, road connections as given.

    Parameters
    ----------
    world : World
        The run's world (its steps, and the yield of reference PV and wind on its weather).
    conn_p_kw : ndarray [kW], shape (steps, substations)
        Net draw at each road connection (import positive).
    """
    scenario, index = world.scenario, world.index
    assert scenario.grid is not None
    if scenario.grid.network_profiles == "simbench":
        return _simbench_inputs(scenario.grid, case, index, conn_p_kw)
    profiles = scenario.grid.network_load_profiles
    year = int(index[0].year)
    cache: dict[str, FloatArray] = {}
    cols = []
    for name in case.load_names:
        prof = _profile_of(name, profiles)
        if prof not in cache:
            cache[prof] = bdew_energy_share(prof, index) / bdew_peak_share(prof, year)
        cols.append(cache[prof])
    load_factor = np.column_stack(cols) if cols else np.zeros((len(index), 0))
    sgen_cols: list[FloatArray] = []
    per_unit: dict[str, FloatArray] = {}
    for kind in case.sgen_types:
        tech = (
            "pv"
            if kind.upper().startswith("PV")
            else "wind"
            if kind.upper() in ("WP", "WIND")
            else ""
        )
        if not tech:
            sgen_cols.append(np.ones(len(index)))
            continue
        if scenario.weather is None:
            raise GridError(
                f"the network has {kind} units; give the scenario a weather section to drive them"
            )
        if tech not in per_unit:
            per_unit[tech] = world.pv_kw_per_kwp if tech == "pv" else world.wind_kw_per_kw
        sgen_cols.append(per_unit[tech])
    sgen_factor = np.column_stack(sgen_cols) if sgen_cols else np.zeros((len(index), 0))
    return GridInputs(load_factor, sgen_factor, np.asarray(conn_p_kw, dtype=float) / 1000.0)


def _simbench_inputs(
    spec: GridSpec, case: GridCase, index: pd.DatetimeIndex, conn_p_kw: FloatArray
) -> GridInputs:
    """Injections when the network's own elements follow their SimBench profiles (2016,
    15-min), matched by day of year and time of day."""
    if not spec.network.startswith(SIMBENCH_PREFIX):
        raise GridError(
            "grid.network_profiles: simbench needs a SimBench network (grid.network: "
            f"simbench:<code>), not {spec.network!r}"
        )
    steps_per_year = 366 * 96  # SimBench's profile year 2016
    rows = (
        (np.asarray(index.dayofyear) - 1) * 96
        + np.asarray(index.hour) * 4
        + np.asarray(index.minute) // 15
    ) % steps_per_year
    net = case.net
    own = net.load.iloc[: len(net.load) - len(case.conn_load)]
    loads = own.index[in_service(own)]
    sgens = net.sgen.index[in_service(net.sgen)] if len(net.sgen) else []
    load_factor = simbench_factors(spec.network, "load", loads, rows)
    sgen_factor = (
        simbench_factors(spec.network, "sgen", sgens, rows)
        if len(sgens)
        else np.zeros((len(index), 0))
    )
    return GridInputs(load_factor, sgen_factor, np.asarray(conn_p_kw, dtype=float) / 1000.0)


def count_violations(
    result: PowerFlowResult, spec: GridSpec
) -> tuple[int, int, float, float, float]:
    """Voltage and loading violations (bus-steps, branch-steps) and the extremes.

    Returns
    -------
    voltage_violations, loading_violations : int
    min_voltage_pu, max_voltage_pu : float [p.u.]
    max_loading_pct : float [%]
    """
    vm = result.vm_pu[result.converged]
    load = np.concatenate([result.line_loading_pct, result.trafo_loading_pct], axis=1)
    load = load[result.converged]
    if vm.size == 0:
        return 0, 0, float("nan"), float("nan"), float("nan")
    v_bad = int(((vm < spec.voltage_min_pu) | (vm > spec.voltage_max_pu)).sum())
    l_bad = int((load > spec.loading_max_pct).sum())
    max_load = float(load.max()) if load.size else 0.0
    return v_bad, l_bad, float(vm.min()), float(vm.max()), max_load


def run_grid_check(
    world: World,
    conn_p_kw: FloatArray,
    case: GridCase | None = None,
    controlled_kw: FloatArray | None = None,
) -> GridCheck:
    """Power flow at every step of the world with the road connections drawing ``conn_p_kw``.

    ``controlled_kw`` [kW], shape (steps, connections), is the part of that draw the road's
    EMS controls (default: all of it); the check's ``excess_kw_eq`` counts what it caused.

    Raises
    ------
    GridError
        If a step does not converge and ``grid.on_nonconvergence`` is ``raise``: the message
        names the step, its time and the cause.
    """
    index = world.index
    spec = world.scenario.grid
    if spec is None:
        raise GridError("the scenario has no grid section; nothing to check")
    case = case if case is not None else prepare_case(spec, world.layout.sub_ids)
    inputs = grid_inputs(world, case, conn_p_kw)
    solve = solve_batch if spec.solver == "batch_nr" else solve_pandapower
    result = solve(case, inputs)
    failures = []
    for k in (int(i) for i in np.flatnonzero(~result.converged)):
        total = inputs.conn_p_mw[k].sum()
        failures.append(
            f"step {k} ({index[k]}): power flow did not converge after {result.iterations[k]} "
            f"iterations (largest mismatch {result.mismatch_mva[k]:.3g} MVA at "
            f"{case.bus_label(int(result.worst_bus[k]))}); the road connections draw "
            f"{total:.2f} MW "
            "— more than the network can carry, or a network error"
        )
    if failures and spec.on_nonconvergence == "raise":
        more = f" (and {len(failures) - 1} more steps)" if len(failures) > 1 else ""
        raise GridError(failures[0] + more)
    v_bad, l_bad, vmin, vmax, lmax = count_violations(result, spec)
    controlled = None if controlled_kw is None else np.asarray(controlled_kw) / 1000.0
    excess = excess_kw_eq(case, inputs, result, spec.voltage_min_pu, spec.voltage_max_pu,
                          spec.loading_max_pct, controlled)  # fmt: skip
    return GridCheck(
        result=result, bus_names=case.bus_names, line_names=case.line_names,
        trafo_names=case.trafo_names, voltage_violations=v_bad, loading_violations=l_bad,
        min_voltage_pu=vmin, max_voltage_pu=vmax, max_loading_pct=lmax, failures=failures,
        excess_kw_eq=excess,
    )  # fmt: skip
