"""The closed loop: strategy decides → twin runs a planning step → meters → KPIs."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import Observation, RunContext, Strategy
from ersgrid.control.registry import make_strategy
from ersgrid.errors import StrategyError
from ersgrid.grid.context import build_energy_context, connection_balance
from ersgrid.grid.outputs import energy_outputs, prepare_grid
from ersgrid.market.prices import scenario_co2_series, scenario_price_series
from ersgrid.run.kpis import compute_kpis, trips_table
from ersgrid.scenario.layout import build_layout
from ersgrid.scenario.loader import load_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import PLANNING_STEP_H, planning_index
from ersgrid.twin.road import RoadTwin
from ersgrid.twin.traffic import draw_arrivals, expected_volume

__all__ = ["RunResult", "run"]

ProgressCallback = Callable[[int, int], None]


@dataclass
class RunResult:
    """Everything a run produced.

    Attributes
    ----------
    scenario : Scenario
        The resolved scenario (seed and overrides applied).
    strategy : str
    kpis : dict
        See ``docs/results.md`` for every key and its unit.
    timeseries : DataFrame
        One row per planning step, tz-aware index, units in column names.
    trips : DataFrame
        One row per completed trip.
    passes : DataFrame
        Metered passes (vehicle × segment) with energy on both sides.
    """

    scenario: Scenario
    strategy: str
    kpis: dict[str, Any]
    timeseries: pd.DataFrame
    trips: pd.DataFrame
    passes: pd.DataFrame
    extras: dict[str, Any] = field(default_factory=dict)


def _check_dispatch(
    name: str,
    step: int,
    seg: npt.NDArray[np.float64],
    sub: npt.NDArray[np.float64],
    ctx: RunContext,
) -> None:
    lay = ctx.layout
    if np.shape(seg) != (lay.n_segments,) or np.shape(sub) != (lay.n_substations,):
        raise StrategyError(
            f"strategy {name!r} at step {step}: dispatch must give {lay.n_segments} segment and "
            f"{lay.n_substations} substation limits, got {np.shape(seg)} and {np.shape(sub)}"
        )
    if not (np.all(np.isfinite(seg)) and np.all(np.isfinite(sub))):
        raise StrategyError(f"strategy {name!r} at step {step}: limits must be finite")


def run(
    scenario: Scenario | str | Path,
    strategy: str | Strategy = "uncontrolled",
    days: float = 1.0,
    start: dt.date | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run a scenario end to end under a strategy.

    Parameters
    ----------
    scenario : Scenario, str or Path
        A scenario object, a built-in name or a YAML path.
    strategy : str or Strategy
        Built-in name (``uncontrolled``), ``module:Class``, or an instance.
    days : float [d]
        Length of the run.
    start : date, optional
        First local day; the scenario's ``simulation.start`` by default.
    seed : int, optional
        Replaces the scenario's seed.
    out : str or Path, optional
        Results folder to write (see :func:`ersgrid.run.results.write_results`).
    progress : callable, optional
        Called as ``progress(done_steps, total_steps)`` after each planning step.
    """
    wall0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    policy = make_strategy(strategy) if isinstance(strategy, str) else strategy
    layout = build_layout(scenario)
    index = planning_index(scenario, days, start)
    rng = np.random.default_rng(scenario.seed)
    volume = expected_volume(scenario, index)
    arrivals = draw_arrivals(scenario, layout, index, rng, volume)
    price = scenario_price_series(scenario, index).to_numpy()
    co2 = scenario_co2_series(scenario, index).to_numpy()
    context = RunContext(
        scenario=scenario,
        layout=layout,
        index=index,
        price_per_kwh=price,
        co2_kg_per_kwh=co2,
        expected_volume=volume,
        step_h=PLANNING_STEP_H,
        energy=build_energy_context(scenario, layout, index),
    )
    policy.reset(context)
    grid_case = prepare_grid(scenario, layout)  # fails fast on a wrong bus or network

    dt_s = scenario.simulation.twin_step_s
    steps_per_plan = round(scenario.simulation.planning_step_min * 60.0 / dt_s)
    twin = RoadTwin(layout, arrivals, dt_s, scenario.simulation.max_vehicles)
    n_sub = layout.n_substations
    sub_kwh = np.zeros((len(index), n_sub))
    sub_peak = np.zeros((len(index), n_sub))
    sub_limit = np.zeros((len(index), n_sub))
    batt_kwh = np.zeros(len(index))
    on_road = np.zeros(len(index), dtype=np.int64)
    mean_soc = np.zeros(len(index))
    seg_grid_total = np.zeros(layout.n_segments)
    seg_batt_total = np.zeros(layout.n_segments)
    last = None
    for k, when in enumerate(index):
        obs = Observation(step=k, time=when, vehicles=twin.state(), last=last)
        decision = policy.decide(obs)
        _check_dispatch(policy.name, k, decision.seg_limit_kw, decision.sub_limit_kw, context)
        seg_limit = np.minimum(decision.seg_limit_kw, layout.seg_rating_kw)
        limit = np.minimum(decision.sub_limit_kw, layout.sub_rating_kw)
        last = twin.advance(steps_per_plan, seg_limit, limit)
        sub_kwh[k] = last.sub_grid_kwh
        sub_peak[k] = last.sub_peak_kw
        sub_limit[k] = limit
        batt_kwh[k] = last.seg_battery_kwh.sum()
        on_road[k] = last.vehicles_on_road
        mean_soc[k] = last.mean_soc
        seg_grid_total += last.seg_grid_kwh
        seg_batt_total += last.seg_battery_kwh
        if progress is not None:
            progress(k + 1, len(index))
    twin.finish()

    road_sub_kw = sub_kwh / PLANNING_STEP_H
    road_kw = road_sub_kw.sum(axis=1)
    import_kw, export_kw, curtailed_kw = connection_balance(road_sub_kw, context.energy)
    columns: dict[str, Any] = {"road_power_kw": road_kw}
    for j, sid in enumerate(layout.sub_ids):
        columns[f"road_power_{sid}_kw"] = sub_kwh[:, j] / PLANNING_STEP_H
        columns[f"road_limit_{sid}_kw"] = sub_limit[:, j]
        columns[f"road_peak_{sid}_kw"] = sub_peak[:, j]
    columns |= {
        "battery_power_kw": batt_kwh / PLANNING_STEP_H,
        "losses_kw": (sub_kwh.sum(axis=1) - batt_kwh) / PLANNING_STEP_H,
        "other_load_kw": context.energy.other_load_kw.sum(axis=1),
        "renewable_kw": context.energy.renewable_kw.sum(axis=1),
        "curtailed_kw": curtailed_kw.sum(axis=1),
        "grid_import_kw": import_kw.sum(axis=1),
        "grid_export_kw": export_kw.sum(axis=1),
        "price_per_kwh": price,
        "co2_kg_per_kwh": co2,
        "vehicles_on_road": on_road,
        "mean_soc": mean_soc,
    }
    energy_columns, energy_kpis, grid_check = energy_outputs(
        scenario, layout, index, road_sub_kw, context.energy, PLANNING_STEP_H, grid_case
    )
    columns |= energy_columns
    timeseries = pd.DataFrame(columns, index=index.rename("time"))
    trips = trips_table(twin.trips(), scenario, layout, index[0], dt_s)
    passes = twin.passes()
    recv_batt_on_road, recv_grid_on_road = twin.received_on_road()
    kpis = compute_kpis(
        scenario=scenario,
        strategy=policy.name,
        timeseries=timeseries,
        trips=trips,
        seg_grid_kwh=seg_grid_total,
        seg_battery_kwh=seg_batt_total,
        received_on_road_kwh=(recv_batt_on_road, recv_grid_on_road),
        vehicles_on_road_at_end=twin.vehicles_on_road,
        limit_violations=twin.limit_violations,
        vehicle_steps=twin.vehicle_steps,
        days=days,
    )
    kpis |= energy_kpis
    kpis["wall_time_s"] = round(time.perf_counter() - wall0, 3)
    result = RunResult(scenario, policy.name, kpis, timeseries, trips, passes)
    if grid_check is not None:
        result.extras["grid"] = grid_check
    if out is not None:
        from ersgrid.run.results import write_results

        write_results(result, Path(out))
    return result
