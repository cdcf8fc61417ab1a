"""The closed loop: strategy decides → twin runs a planning step → meters → KPIs.

:class:`Stepper` holds one run's loop state and takes it one planning step at a time; the
batch :func:`run` and the live service (:class:`ersgrid.service.live.LiveLoop`, in ticks)
both drive it.
"""

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

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
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
from ersgrid.twin.road import BlockReport, RoadTwin
from ersgrid.twin.traffic import draw_arrivals, expected_volume

__all__ = ["RunResult", "Stepper", "run"]

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
    ledger: bool = True,
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
        Results folder to write (see :func:`ersgrid.results.write_results`).
    progress : callable, optional
        Called as ``progress(done_steps, total_steps)`` after each planning step.
    dr_events : list of DREventSpec, optional
        Demand-response events beside the scenario's own (e.g. from a CSV file or a VTN).
        With any event, the run first simulates ``uncontrolled`` on the same vehicles as the
        baseline of sheds and of the reduction it reports.
    ledger : bool
        With ``out``, also write the run's signed ledger and anchor it (the slowest part of
        writing a results folder).
    """
    wall0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    policy = make_strategy(strategy) if isinstance(strategy, str) else strategy
    stepper = Stepper(scenario, policy, days, start, dr_events)
    n = len(stepper.index)
    for k in range(n):
        stepper.decide()
        seg_limit, limit = stepper.limits(stepper.caps[k] if stepper.events else None)
        stepper.advance(stepper.steps_per_plan, seg_limit, limit)
        stepper.close_step()
        if progress is not None:
            progress(k + 1, n)
    return stepper.result(days, wall0, out, ledger=ledger)


def _merge_blocks(blocks: list[BlockReport]) -> BlockReport:
    """One report over consecutive blocks: energies add up, peaks are the highest, the
    vehicles and their SoC are those at the end."""
    if len(blocks) == 1:
        return blocks[0]
    last = blocks[-1]

    def total(name: str) -> npt.NDArray[np.float64]:
        return np.asarray(np.sum([getattr(b, name) for b in blocks], axis=0), dtype=np.float64)

    return BlockReport(
        duration_h=sum(b.duration_h for b in blocks),
        seg_grid_kwh=total("seg_grid_kwh"),
        seg_battery_kwh=total("seg_battery_kwh"),
        seg_v2g_grid_kwh=total("seg_v2g_grid_kwh"),
        seg_v2g_battery_kwh=total("seg_v2g_battery_kwh"),
        seg_request_kwh=total("seg_request_kwh"),
        seg_v2g_potential_kwh=total("seg_v2g_potential_kwh"),
        sub_grid_kwh=total("sub_grid_kwh"),
        sub_peak_kw=np.max([b.sub_peak_kw for b in blocks], axis=0),
        vehicles_on_road=last.vehicles_on_road,
        mean_soc=last.mean_soc,
    )


class Stepper:
    """The closed loop one planning step at a time; drives :func:`run` and the live loop.

    Each planning step is :meth:`decide` (the strategy sees the vehicles, the previous
    step's measurements and the stored energy), :meth:`limits` (dispatch within ratings and
    a DR import cap), one or more :meth:`advance` calls (the twin under those limits and the
    V2G set-points; the live loop advances in ticks) and :meth:`close_step` (metering, the
    batteries' set-point realised). :meth:`result` turns the steps into a :class:`RunResult`.

    Parameters
    ----------
    scenario : Scenario
        Resolved (seed applied).
    policy : Strategy
    days : float [d]
    start : date, optional
    dr_events : list of DREventSpec, optional
        Events known before the run; with any (or the scenario's own), ``caps`` holds the
        import cap per step from an ``uncontrolled`` baseline run.
    layout : Layout, optional
        The corridor (built from the scenario by default; the live loop passes its own copy
        so fault injection can change it).
    """

    def __init__(
        self,
        scenario: Scenario,
        policy: Strategy,
        days: float = 1.0,
        start: dt.date | None = None,
        dr_events: list[DREventSpec] | None = None,
        layout: Layout | None = None,
    ) -> None:
        self.scenario = scenario
        self.policy = policy
        self.layout = layout = build_layout(scenario) if layout is None else layout
        self.index = index = planning_index(scenario, days, start)
        rng = np.random.default_rng(scenario.seed)
        # the planners' naive expectation, and the shaped intensity the twin draws from
        # (holiday periods, weather and day effects: the same function as the forecasting
        # history)
        volume, _ = shift_trips(expected_volume(scenario, index), scenario, index)
        intensity, self.shifted_trips = shift_trips(
            traffic_intensity(scenario, index), scenario, index
        )
        self.intensity = intensity
        self.volume = volume
        self.arrivals = arrivals = draw_arrivals(scenario, layout, index, rng, intensity)
        self.price = price = scenario_price_series(scenario, index).to_numpy()
        self.co2 = co2 = scenario_co2_series(scenario, index).to_numpy()
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
        self.events = events = [*scenario.demand_response.events, *(dr_events or [])]
        self.baseline_import: npt.NDArray[np.float64] | None = None
        self.caps = caps = np.full((len(index), layout.n_substations), np.inf)
        if events:
            quiet = scenario.model_copy(update={"demand_response": DemandResponseSpec()})
            baseline = run(quiet, "uncontrolled", days=days, start=start)
            self.baseline_import = baseline.extras["import_kw"]
            self.caps = caps = dr_caps(events, index, layout, self.baseline_import)
            context = replace(
                context,
                energy=replace(
                    context.energy, import_limit_kw=np.minimum(context.energy.import_limit_kw, caps)
                ),
            )
        self.context = context
        policy.reset(context)
        self.grid_case = prepare_grid(scenario, layout)  # fails fast on a wrong bus or network

        self.dt_s = dt_s = scenario.simulation.twin_step_s
        self.steps_per_plan = round(scenario.simulation.planning_step_min * 60.0 / dt_s)
        self.twin = RoadTwin(layout, arrivals, dt_s, scenario.simulation.max_vehicles)
        n_sub = layout.n_substations
        self.sub_kwh = np.zeros((len(index), n_sub))
        self.sub_peak = np.zeros((len(index), n_sub))
        self.sub_limit = np.zeros((len(index), n_sub))
        self.flows = {  # per planning step, summed over segments [kWh]
            key: np.zeros(len(index))
            for key in ("battery", "v2g_grid", "v2g_battery", "request", "v2g_potential")
        }
        self.on_road = np.zeros(len(index), dtype=np.int64)
        self.mean_soc = np.zeros(len(index))
        self.totals = {  # per segment, summed over the run [kWh]
            key: np.zeros(layout.n_segments)
            for key in ("grid", "battery", "v2g_grid", "v2g_battery")
        }
        self.storage = storage_arrays(scenario, layout)
        self.stored = self.storage.initial_kwh.copy()
        self.storage_kw = np.zeros((len(index), n_sub))
        self.storage_kwh = np.zeros((len(index), n_sub))
        self.last: BlockReport | None = None
        self.step = 0
        """The planning step in progress (or next to start)."""
        self.decision: Dispatch | None = None
        self._energy_left: npt.NDArray[np.float64] | None = None
        self._blocks: list[BlockReport] = []
        self._limit_h = np.zeros(n_sub)  # road limit × hours over the step [kWh]

    def decide(self) -> Dispatch:
        """The strategy's dispatch for the planning step that starts now (checked)."""
        k = self.step
        n_sub = self.layout.n_substations
        policy, storage = self.policy, self.storage
        metered = None
        if k > 0 and self.last is not None:
            road_kw = self.sub_kwh[k - 1] / PLANNING_STEP_H + self.storage_kw[k - 1]
            metered = connection_balance(road_kw, self.context.energy, k - 1)[0]
        obs = Observation(
            step=k, time=self.index[k], vehicles=self.twin.state(), last=self.last,
            storage_kwh=self.stored.copy() if storage.present else None, import_kw=metered,
        )  # fmt: skip
        decision = policy.decide(obs)
        _check_dispatch(policy.name, k, decision.seg_limit_kw, decision.sub_limit_kw, self.context)
        if decision.storage_kw is not None and (
            np.shape(decision.storage_kw) != (n_sub,)
            or not np.all(np.isfinite(decision.storage_kw))
        ):
            raise StrategyError(
                f"strategy {policy.name!r} at step {k}: storage_kw must give {n_sub} finite "
                "set-points"
            )
        if decision.import_target_kw is not None and (
            np.shape(decision.import_target_kw) != (n_sub,)
            or np.any(np.isnan(decision.import_target_kw))
        ):
            raise StrategyError(
                f"strategy {policy.name!r} at step {k}: import_target_kw must give {n_sub} "
                "numbers (inf for no target)"
            )
        self.decision = decision
        self._energy_left = (
            None
            if decision.sub_energy_kwh is None
            else np.array(decision.sub_energy_kwh, dtype=np.float64)
        )
        return decision

    def limits(
        self, caps_kw: npt.NDArray[np.float64] | None = None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Segment and substation road limits in force [kW]: the dispatch within ratings
        and, given import caps ``caps_kw`` [kW] per substation, what they leave the road."""
        layout, k, en = self.layout, self.step, self.context.energy
        decision = self.decision or Dispatch(layout.seg_rating_kw, layout.sub_rating_kw)
        seg_limit = np.minimum(decision.seg_limit_kw, layout.seg_rating_kw)
        limit = np.minimum(decision.sub_limit_kw, layout.sub_rating_kw)
        if caps_kw is not None:
            # the EMS keeps a DR cap whatever the strategy: the road gets what the cap leaves
            # after the other loads, local renewables and any battery charging
            charging = 0.0 if decision.storage_kw is None else np.maximum(decision.storage_kw, 0.0)
            room = caps_kw - en.other_load_kw[k] + en.renewable_kw[k] - charging
            limit = np.minimum(limit, np.maximum(room, 0.0))
        return seg_limit, limit

    def advance(
        self,
        n_steps: int,
        seg_limit: npt.NDArray[np.float64],
        limit: npt.NDArray[np.float64],
    ) -> BlockReport:
        """Run the twin ``n_steps`` twin steps under the limits and the dispatch's V2G."""
        decision = self.decision
        v2g = (None, None) if decision is None else (decision.seg_v2g_kw, decision.sub_v2g_kw)
        block = self.twin.advance(n_steps, seg_limit, limit, *v2g, self._energy_left)
        if self._energy_left is not None:  # the step's energy budget spans its ticks
            charged = np.bincount(
                self.layout.seg_substation, weights=block.seg_grid_kwh,
                minlength=self.layout.n_substations,
            )  # fmt: skip
            self._energy_left = np.maximum(self._energy_left - charged, 0.0)
        self._blocks.append(block)
        self._limit_h += limit * block.duration_h
        return block

    def close_step(self) -> BlockReport:
        """Meter the planning step in progress, realise the batteries, move to the next."""
        k, en, storage = self.step, self.context.energy, self.storage
        decision = self.decision
        last = self.last = _merge_blocks(self._blocks)
        self.sub_kwh[k] = last.sub_grid_kwh
        self.sub_peak[k] = last.sub_peak_kw
        self.sub_limit[k] = self._limit_h / last.duration_h
        self._blocks, self._limit_h = [], np.zeros(self.layout.n_substations)
        flows, totals = self.flows, self.totals
        flows["battery"][k] = last.seg_battery_kwh.sum()
        flows["v2g_grid"][k] = last.seg_v2g_grid_kwh.sum()
        flows["v2g_battery"][k] = last.seg_v2g_battery_kwh.sum()
        flows["request"][k] = last.seg_request_kwh.sum()
        flows["v2g_potential"][k] = last.seg_v2g_potential_kwh.sum()
        if decision is not None and decision.storage_kw is not None and storage.present:
            net_kw = last.sub_grid_kwh / PLANNING_STEP_H + en.other_load_kw[k] - en.renewable_kw[k]
            self.storage_kw[k], self.stored = realise_storage(
                np.asarray(decision.storage_kw, dtype=np.float64), self.stored, storage, net_kw,
                en.import_limit_kw[k], en.export_limit_kw[k], PLANNING_STEP_H,
                may_export=bool(self.scenario.storage and self.scenario.storage.may_export),
                import_target_kw=decision.import_target_kw,
            )  # fmt: skip
        self.storage_kwh[k] = self.stored
        self.on_road[k] = last.vehicles_on_road
        self.mean_soc[k] = last.mean_soc
        totals["grid"] += last.seg_grid_kwh
        totals["battery"] += last.seg_battery_kwh
        totals["v2g_grid"] += last.seg_v2g_grid_kwh
        totals["v2g_battery"] += last.seg_v2g_battery_kwh
        self.step += 1
        return last

    def result(
        self, days: float, wall0: float, out: str | Path | None = None, ledger: bool = True
    ) -> RunResult:
        """Close open passes and build the run's result (and write it to ``out``)."""
        scenario, layout, index, policy = self.scenario, self.layout, self.index, self.policy
        context, twin, events = self.context, self.twin, self.events
        price, co2, storage, stored = self.price, self.co2, self.storage, self.stored
        sub_kwh, sub_limit, sub_peak = self.sub_kwh, self.sub_limit, self.sub_peak
        storage_kw, storage_kwh, flows, totals = (
            self.storage_kw, self.storage_kwh, self.flows, self.totals
        )  # fmt: skip
        on_road, mean_soc, en = self.on_road, self.mean_soc, context.energy
        dt_s, grid_case, caps = self.dt_s, self.grid_case, self.caps
        baseline_import, volume, arrivals = self.baseline_import, self.volume, self.arrivals
        shifted_trips = self.shifted_trips
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
            "v2g_battery_kw": flows["v2g_battery"] / h,
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
            "traffic_intensity": self.intensity,
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
            from ersgrid.results import write_results

            write_results(result, Path(out), ledger=ledger)
        return result
