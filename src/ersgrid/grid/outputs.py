"""Grid and renewable results of a run: time-series columns and KPIs.

Called by the runner after its loop, with the road's power at each connection.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from ersgrid.errors import GridError
from ersgrid.grid.check import GridCheck, prepare_case, run_grid_check
from ersgrid.grid.powerflow import GridCase
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario
from ersgrid.world.energy import EnergyContext, connection_balance, renewable_split
from ersgrid.world.world import World

__all__ = ["GRID_KPIS", "energy_outputs", "prepare_grid"]

FloatArray = npt.NDArray[np.float64]

GRID_KPIS: tuple[str, ...] = (
    "voltage_violations", "loading_violations", "min_voltage_pu", "max_voltage_pu",
    "max_loading_pct", "powerflow_failures", "grid_check_s",
)  # fmt: skip
"""KPIs of the grid check; None when the scenario has no grid section."""


def prepare_grid(scenario: Scenario, layout: Layout) -> GridCase | None:
    """Load and compile the scenario's network before a run, so a wrong bus name or an
    unusable network stops the run at its start, not after it (None without a grid)."""
    if scenario.grid is None:
        return None
    case = prepare_case(scenario.grid, layout.sub_ids)
    weather_driven = [t for t in case.sgen_types if t.upper().startswith("PV") or t.upper() == "WP"]
    if weather_driven and scenario.weather is None:
        raise GridError(
            f"grid.network {scenario.grid.network!r} has {len(weather_driven)} PV/wind units; "
            "give the scenario a weather section to drive them"
        )
    return case


def energy_outputs(
    world: World,
    road_sub_kw: FloatArray,
    energy: EnergyContext,
    case: GridCase | None = None,
) -> tuple[dict[str, Any], dict[str, Any], GridCheck | None]:
    """Time-series columns, KPIs and the grid check of a run.

    Parameters
    ----------
    world : World
        The run's world (steps, weather, network inputs).
    road_sub_kw : ndarray [kW], shape (steps, substations)
        Mean road power at each connection in each planning step (draw positive).
    energy : EnergyContext
        The connections' loads, renewables and limits in force (the world's, with any
        demand-response caps).
    case : GridCase, optional
        The compiled network from :func:`prepare_grid`; compiled here if omitted.

    Returns
    -------
    columns : dict
        ``renewable_used_kw`` (renewables into the road), ``renewable_other_kw``,
        ``renewable_exported_kw``; with a grid also ``grid_min_voltage_pu``,
        ``grid_max_voltage_pu``, ``grid_max_line_loading_pct``,
        ``grid_max_trafo_loading_pct``, ``grid_voltage_violations`` and
        ``grid_loading_violations`` (counts in the step), ``grid_excess_kw_eq`` (the step's
        excess over the network's limits in kW-equivalents,
        :func:`~ersgrid.grid.sensitivity.excess_kw_eq`) and ``grid_voltage_<sub>_pu`` at
        each connection's bus.
    kpis : dict
        ``renewable_kwh``, ``renewable_used_kwh``, ``renewable_other_kwh``,
        ``renewable_exported_kwh``, ``curtailed_kwh``, ``renewable_share`` (of the road's
        grid-side energy met by local renewables), ``weather`` (what the weather data are),
        ``network`` and the :data:`GRID_KPIS`.
    check : GridCheck or None
    """
    scenario, step_h = world.scenario, world.step_h
    split = renewable_split(road_sub_kw, energy)
    road_kwh = float(np.maximum(road_sub_kw, 0.0).sum() * step_h)
    used_kwh = float(split.to_road_kw.sum() * step_h)
    columns: dict[str, Any] = {
        "renewable_used_kw": split.to_road_kw.sum(axis=1),
        "renewable_other_kw": split.to_other_kw.sum(axis=1),
        "renewable_exported_kw": split.exported_kw.sum(axis=1),
    }
    kpis: dict[str, Any] = {
        "renewable_kwh": float(energy.renewable_kw.sum() * step_h),
        "renewable_used_kwh": used_kwh,
        "renewable_other_kwh": float(split.to_other_kw.sum() * step_h),
        "renewable_exported_kwh": float(split.exported_kw.sum() * step_h),
        "curtailed_kwh": float(split.curtailed_kw.sum() * step_h),
        "renewable_share": used_kwh / road_kwh if road_kwh > 0 else float("nan"),
    }
    kpis["weather"] = world.weather.description
    kpis |= dict.fromkeys(GRID_KPIS)
    if scenario.grid is None:
        return columns, kpis, None
    t0 = time.perf_counter()
    import_kw, export_kw, _ = connection_balance(road_sub_kw, energy)
    # the road's (and its batteries') part of each connection's draw: what the site would
    # draw without it is the network's own
    site_import_kw, site_export_kw, _ = connection_balance(np.zeros_like(road_sub_kw), energy)
    draw_kw = import_kw - export_kw
    check = run_grid_check(world, draw_kw, case, draw_kw - (site_import_kw - site_export_kw))
    kpis["network"] = scenario.grid.network
    res = check.result
    spec = scenario.grid
    with np.errstate(invalid="ignore"):
        v_bad = ((res.vm_pu < spec.voltage_min_pu) | (res.vm_pu > spec.voltage_max_pu)).sum(1)
        loads = np.concatenate([res.line_loading_pct, res.trafo_loading_pct], axis=1)
        l_bad = (loads > spec.loading_max_pct).sum(axis=1)
    nan = np.where(res.converged, 0.0, np.nan)  # no voltages where the flow failed
    columns |= {
        "grid_min_voltage_pu": np.nanmin(res.vm_pu, axis=1, initial=np.inf) + nan,
        "grid_max_voltage_pu": np.nanmax(res.vm_pu, axis=1, initial=-np.inf) + nan,
        "grid_max_line_loading_pct": _row_max(res.line_loading_pct) + nan,
        "grid_max_trafo_loading_pct": _row_max(res.trafo_loading_pct) + nan,
        "grid_voltage_violations": v_bad.astype(np.int64),
        "grid_loading_violations": l_bad.astype(np.int64),
        "grid_excess_kw_eq": check.excess_kw_eq,
    }
    bus_pos = {name: i for i, name in enumerate(check.bus_names)}
    for conn in spec.connections:
        columns[f"grid_voltage_{conn.substation}_pu"] = res.vm_pu[:, bus_pos[conn.bus]]
    for key in ("min_voltage_pu", "max_voltage_pu", "max_loading_pct"):
        columns_ok = np.isfinite(getattr(check, key))
        kpis[key] = float(getattr(check, key)) if columns_ok else None
    kpis["voltage_violations"] = check.voltage_violations
    kpis["loading_violations"] = check.loading_violations
    kpis["powerflow_failures"] = len(check.failures)
    if check.failures:
        kpis["powerflow_failure_messages"] = check.failures[:20]
    kpis["grid_check_s"] = round(time.perf_counter() - t0, 3)
    return columns, kpis, check


def _row_max(values: FloatArray) -> FloatArray:
    if values.shape[1] == 0:
        return np.zeros(values.shape[0])
    return np.asarray(np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=1))
