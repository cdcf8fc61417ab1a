"""The closed loop: strategy decides → twin runs a planning step → meters → KPIs."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import Observation, RunContext, Strategy
from ersgrid.control.registry import make_strategy
from ersgrid.data.weather import load_weather
from ersgrid.errors import StrategyError
from ersgrid.forecast.history import traffic_intensity
from ersgrid.grid.context import build_energy_context, connection_balance
from ersgrid.grid.outputs import energy_outputs, prepare_grid
from ersgrid.grid.renewables import pv_from_weather_kw, wind_ac_kw
from ersgrid.market.dr import dr_caps, dr_performance
from ersgrid.market.prices import scenario_co2_series, scenario_price_series
from ersgrid.market.response import shift_trips, user_price_series
from ersgrid.optimize.storage import realise_storage, storage_arrays
from ersgrid.run.kpis import compute_kpis, trips_table
from ersgrid.scenario.demand_response import DemandResponseSpec, DREventSpec
from ersgrid.scenario.layout import Layout, build_layout
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


def _renewable_columns(
    scenario: Scenario, layout: Layout, index: pd.DatetimeIndex
) -> dict[str, npt.NDArray[np.float64]]:
    """Realised output of all PV arrays (``pv_kw``) and all wind farms (``wind_kw``) [kW], for
    the kinds the scenario has (their sum is ``renewable_kw``)."""
    ren = scenario.renewables
    if scenario.weather is None or not (ren.pv or ren.wind):
        return {}
    weather = load_weather(scenario.weather, index, scenario.seed)
    out: dict[str, npt.NDArray[np.float64]] = {}
    if ren.pv:
        arrays = pv_from_weather_kw(ren.pv, weather, scenario.weather)
        out["pv_kw"] = np.sum(np.asarray(arrays, dtype=np.float64), axis=0)
    if ren.wind:
        farms = [wind_ac_kw(farm, weather) for farm in ren.wind]
        out["wind_kw"] = np.sum(np.asarray(farms, dtype=np.float64), axis=0)
    return out


def run(
    scenario: Scenario | str | Path,
    strategy: str | Strategy = "uncontrolled",
    days: float = 1.0,
    start: dt.date | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    progress: ProgressCallback | None = None,
    dr_events: list[DREventSpec] | None = None,
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
    dr_events : list of DREventSpec, optional
        Demand-response events beside the scenario's own (e.g. from a CSV file or a VTN).
        With any event, the run first simulates ``uncontrolled`` on the same vehicles as the
        baseline of sheds and of the reduction it reports.
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
    # the planners' naive expectation, and the shaped intensity the twin draws from (holiday
    # periods, weather and day effects: the same function as the forecasting history)
    volume, _ = shift_trips(expected_volume(scenario, index), scenario, index)
    intensity, shifted_trips = shift_trips(traffic_intensity(scenario, index), scenario, index)
    arrivals = draw_arrivals(scenario, layout, index, rng, intensity)
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
        arrivals=arrivals,
    )
    events = [*scenario.demand_response.events, *(dr_events or [])]
    baseline_import = None
    caps = np.full((len(index), layout.n_substations), np.inf)
    if events:
        quiet = scenario.model_copy(update={"demand_response": DemandResponseSpec()})
        baseline = run(quiet, "uncontrolled", days=days, start=start)
        baseline_import = baseline.extras["import_kw"]
        caps = dr_caps(events, index, layout, baseline_import)
        context = replace(
            context,
            energy=replace(
                context.energy, import_limit_kw=np.minimum(context.energy.import_limit_kw, caps)
            ),
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
    flows = {  # per planning step, summed over segments [kWh]
        key: np.zeros(len(index))
        for key in ("battery", "v2g_grid", "v2g_battery", "request", "v2g_potential")
    }
    on_road = np.zeros(len(index), dtype=np.int64)
    mean_soc = np.zeros(len(index))
    totals = {  # per segment, summed over the run [kWh]
        key: np.zeros(layout.n_segments) for key in ("grid", "battery", "v2g_grid", "v2g_battery")
    }
    storage = storage_arrays(scenario, layout)
    stored = storage.initial_kwh.copy()
    storage_kw = np.zeros((len(index), n_sub))
    storage_kwh = np.zeros((len(index), n_sub))
    en = context.energy
    last = None
    for k, when in enumerate(index):
        obs = Observation(
            step=k, time=when, vehicles=twin.state(), last=last,
            storage_kwh=stored.copy() if storage.present else None,
        )  # fmt: skip
        decision = policy.decide(obs)
        _check_dispatch(policy.name, k, decision.seg_limit_kw, decision.sub_limit_kw, context)
        if decision.storage_kw is not None and (
            np.shape(decision.storage_kw) != (n_sub,)
            or not np.all(np.isfinite(decision.storage_kw))
        ):
            raise StrategyError(
                f"strategy {policy.name!r} at step {k}: storage_kw must give {n_sub} finite "
                "set-points"
            )
        seg_limit = np.minimum(decision.seg_limit_kw, layout.seg_rating_kw)
        limit = np.minimum(decision.sub_limit_kw, layout.sub_rating_kw)
        if events:
            # the EMS keeps a DR cap whatever the strategy: the road gets what the cap leaves
            # after the other loads, local renewables and any battery charging
            charging = 0.0 if decision.storage_kw is None else np.maximum(decision.storage_kw, 0.0)
            room = caps[k] - en.other_load_kw[k] + en.renewable_kw[k] - charging
            limit = np.minimum(limit, np.maximum(room, 0.0))
        last = twin.advance(
            steps_per_plan, seg_limit, limit, decision.seg_v2g_kw, decision.sub_v2g_kw
        )
        sub_kwh[k] = last.sub_grid_kwh
        sub_peak[k] = last.sub_peak_kw
        sub_limit[k] = limit
        flows["battery"][k] = last.seg_battery_kwh.sum()
        flows["v2g_grid"][k] = last.seg_v2g_grid_kwh.sum()
        flows["v2g_battery"][k] = last.seg_v2g_battery_kwh.sum()
        flows["request"][k] = last.seg_request_kwh.sum()
        flows["v2g_potential"][k] = last.seg_v2g_potential_kwh.sum()
        if decision.storage_kw is not None and storage.present:
            net_kw = last.sub_grid_kwh / PLANNING_STEP_H + en.other_load_kw[k] - en.renewable_kw[k]
            storage_kw[k], stored = realise_storage(
                np.asarray(decision.storage_kw, dtype=np.float64), stored, storage, net_kw,
                en.import_limit_kw[k], en.export_limit_kw[k], PLANNING_STEP_H,
                may_export=bool(scenario.storage and scenario.storage.may_export),
            )  # fmt: skip
        storage_kwh[k] = stored
        on_road[k] = last.vehicles_on_road
        mean_soc[k] = last.mean_soc
        totals["grid"] += last.seg_grid_kwh
        totals["battery"] += last.seg_battery_kwh
        totals["v2g_grid"] += last.seg_v2g_grid_kwh
        totals["v2g_battery"] += last.seg_v2g_battery_kwh
        if progress is not None:
            progress(k + 1, len(index))
    twin.finish()

    road_sub_kw = sub_kwh / PLANNING_STEP_H
    road_kw = road_sub_kw.sum(axis=1)
    # batteries sit behind the connection beside the road: they add to its net load
    import_kw, export_kw, curtailed_kw = connection_balance(road_sub_kw + storage_kw, en)
    columns: dict[str, Any] = {"road_power_kw": road_kw}
    for j, sid in enumerate(layout.sub_ids):
        columns[f"road_power_{sid}_kw"] = sub_kwh[:, j] / PLANNING_STEP_H
        columns[f"road_limit_{sid}_kw"] = sub_limit[:, j]
        columns[f"road_peak_{sid}_kw"] = sub_peak[:, j]
    h = PLANNING_STEP_H
    columns |= {
        "battery_power_kw": flows["battery"] / h,
        "v2g_discharge_kw": flows["v2g_grid"] / h,
        "losses_kw": (sub_kwh.sum(axis=1) - flows["battery"] + flows["v2g_battery"]) / h,
        "road_request_kw": flows["request"] / h,
        "v2g_potential_kw": flows["v2g_potential"] / h,
        "other_load_kw": context.energy.other_load_kw.sum(axis=1),
        "renewable_kw": context.energy.renewable_kw.sum(axis=1),
        "storage_power_kw": storage_kw.sum(axis=1),
        "storage_energy_kwh": storage_kwh.sum(axis=1),
        "curtailed_kw": curtailed_kw.sum(axis=1),
        "grid_import_kw": import_kw.sum(axis=1),
        "grid_export_kw": export_kw.sum(axis=1),
        "price_per_kwh": price,
        "user_price_per_kwh": user_price_series(scenario, index),
        "co2_kg_per_kwh": co2,
        "vehicles_on_road": on_road,
        "mean_soc": mean_soc,
    }
    columns |= _renewable_columns(scenario, layout, index)
    forecasts = getattr(policy, "forecasts", None)
    if isinstance(forecasts, pd.DataFrame):  # what the strategy planned on (e.g. mpc)
        columns |= {str(c): forecasts[c].to_numpy() for c in forecasts.columns}
    # the power flow and renewable accounting see the road and its batteries together
    energy_columns, energy_kpis, grid_check = energy_outputs(
        scenario, layout, index, road_sub_kw + storage_kw, context.energy, PLANNING_STEP_H,
        grid_case,
    )  # fmt: skip
    columns |= energy_columns
    timeseries = pd.DataFrame(columns, index=index.rename("time"))
    trips = trips_table(twin.trips(), scenario, layout, index[0], dt_s)
    passes = twin.passes()
    kpis = compute_kpis(
        scenario=scenario,
        strategy=policy.name,
        timeseries=timeseries,
        trips=trips,
        metered_kwh={key: float(value.sum()) for key, value in totals.items()},
        on_road_kwh=twin.received_on_road(),
        vehicles_on_road_at_end=twin.vehicles_on_road,
        limit_violations=twin.limit_violations,
        vehicle_steps=twin.vehicle_steps,
        days=days,
        fallbacks=int(policy.fallbacks),
        storage_discharged_kwh=float(np.maximum(-storage_kw, 0.0).sum() * PLANNING_STEP_H),
        storage_change_kwh=float(stored.sum() - storage.initial_kwh.sum()),
    )
    kpis |= energy_kpis
    kpis["trips_shifted_expected"] = shifted_trips
    extras: dict[str, Any] = {
        "import_kw": import_kw,
        "road_sub_kw": road_sub_kw,
        "storage_kwh": storage_kwh,
        "energy": context.energy,
        "arrivals": arrivals,
        "expected_volume": volume,
        "traffic_intensity": intensity,
    }
    if events and baseline_import is not None:
        perf = dr_performance(
            events, index, layout, caps, baseline_import, import_kw, PLANNING_STEP_H
        )
        extras["dr"] = perf
        kpis |= {
            "dr_events": len(perf),
            "dr_reduction_kwh": sum(p.reduction_kwh for p in perf),
            "dr_max_excess_kw": max(p.max_excess_kw for p in perf),
            "dr_honoured": all(p.honoured for p in perf if p.opt_in),
        }
    if grid_check is not None:
        extras["grid"] = grid_check
    kpis["wall_time_s"] = round(time.perf_counter() - wall0, 3)
    result = RunResult(scenario, policy.name, kpis, timeseries, trips, passes, extras)
    if out is not None:
        from ersgrid.run.results import write_results

        write_results(result, Path(out))
    return result
