"""The closed loop: strategy decides → twin runs a planning step → meters → KPIs.

:class:`Stepper` holds one run's loop state and takes it one planning step at a time; the
batch :func:`run` and the live service (:class:`ersgrid.service.live.LiveLoop`, in ticks)
both drive it through the same calls, and each planning step ends in one :class:`StepRecord`
that accounts the road, the batteries and the connections' import and export once.
:func:`run` returns a :class:`RunResult` and writes nothing: the faces write results folders.
"""

from __future__ import annotations

import copy
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
from ersgrid.errors import ScenarioError, StrategyError
from ersgrid.grid.check import GridCheck
from ersgrid.grid.outputs import energy_outputs, prepare_grid
from ersgrid.market.dr import DRPerformance, cbl_10of10, dr_caps, dr_performance, event_steps
from ersgrid.optimize.storage import realise_storage, storage_arrays
from ersgrid.run.kpis import compute_kpis, trips_table
from ersgrid.run.state import RunState, check_continues, month_peak, scenario_fingerprint
from ersgrid.run.warmup import warmed_twin
from ersgrid.scenario.demand_response import DREventSpec
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.loader import load_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import PLANNING_STEP_H, planning_index, warmup_steps
from ersgrid.twin.road import BlockReport, RoadTwin
from ersgrid.world.energy import EnergyContext, connection_balance
from ersgrid.world.world import World, build_world

__all__ = [
    "DRBaselines",
    "RunResult",
    "RunState",
    "StepRecord",
    "Stepper",
    "dr_baselines",
    "run",
]

FloatArray = npt.NDArray[np.float64]
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class StepRecord:
    """One planning step as metered, each quantity accounted once.

    Arrays are per substation (the layout's order).

    Attributes
    ----------
    step : int
        Index of the planning step.
    road_kwh : ndarray [kWh]
        Energy the road drew at each substation, grid side (V2G returned netted out).
    road_peak_kw : ndarray [kW]
        Highest twin-step road power at each substation.
    road_limit_kw : ndarray [kW]
        Mean road limit in force (dispatch, ratings, demand-response caps).
    storage_kw : ndarray [kW]
        Realised power of the stationary batteries, AC side, charging positive.
    stored_kwh : ndarray [kWh]
        Energy in the batteries at the end of the step.
    import_kw, export_kw, curtailed_kw : ndarray [kW]
        The connections' mean import, export and curtailed renewables over the step
        (road, batteries and other loads less renewables; :func:`connection_balance`).
    battery_kwh, v2g_grid_kwh, v2g_battery_kwh, request_kwh, v2g_potential_kwh : float [kWh]
        Summed over the segments: energy into vehicle batteries, V2G energy returned (grid
        and battery side), energy the vehicles asked for, V2G the vehicles could have given.
    vehicles_on_road : int
    mean_soc : float [-]
    """

    step: int
    road_kwh: FloatArray
    road_peak_kw: FloatArray
    road_limit_kw: FloatArray
    storage_kw: FloatArray
    stored_kwh: FloatArray
    import_kw: FloatArray
    export_kw: FloatArray
    curtailed_kw: FloatArray
    battery_kwh: float
    v2g_grid_kwh: float
    v2g_battery_kwh: float
    request_kwh: float
    v2g_potential_kwh: float
    vehicles_on_road: int
    mean_soc: float


@dataclass
class RunResult:
    """Everything a run produced.

    Arrays of shape (steps, substations) follow the layout's substation order.

    Attributes
    ----------
    scenario : Scenario
        The resolved scenario (seed and overrides applied).
    strategy : str
        The strategy's name (a comparison may relabel it).
    kpis : dict
        See ``docs/results.md`` for every key and its unit.
    timeseries : DataFrame
        One row per planning step, tz-aware index, units in column names.
    trips : DataFrame
        One row per completed trip.
    passes : DataFrame
        Metered passes (vehicle × segment) with energy on both sides.
    world : World
        The run's outside world (prices, weather, traffic, arrivals, ...).
    energy : EnergyContext
        The connections' loads, renewables and limits in force (the world's, with the
        demand-response caps).
    records : tuple of StepRecord
        One per planning step.
    import_kw, export_kw, curtailed_kw : ndarray [kW], shape (steps, substations)
        Mean grid import, export and curtailed local renewables of each connection.
    road_sub_kw : ndarray [kW], shape (steps, substations)
        Mean road power at each connection, grid side.
    storage_kw : ndarray [kW], shape (steps, substations)
        Mean power of the stationary batteries, charging positive.
    storage_kwh : ndarray [kWh], shape (steps, substations)
        Energy in the batteries at the end of each step.
    dr : tuple of DRPerformance
        What the road delivered in each demand-response event (empty without events).
    dr_baselines : DRBaselines or None
        The counterfactual imports the DR reductions are measured against (with events).
    grid : GridCheck or None
        The power flow of every step (None without a grid section).
    forecasts : DataFrame or None
        What the strategy planned on (e.g. mpc's traffic and renewable forecasts).
    notes : tuple of str
        What the user should know about this run (e.g. a planner trained on less history than
        it asks for).
    end_state : RunState or None
        Where the run ended: pass it as ``run(..., start_state=...)`` to carry on from here.
    """

    scenario: Scenario
    strategy: str
    kpis: dict[str, Any]
    timeseries: pd.DataFrame
    trips: pd.DataFrame
    passes: pd.DataFrame
    world: World
    energy: EnergyContext
    records: tuple[StepRecord, ...]
    import_kw: FloatArray
    export_kw: FloatArray
    curtailed_kw: FloatArray
    road_sub_kw: FloatArray
    storage_kw: FloatArray
    storage_kwh: FloatArray
    dr: tuple[DRPerformance, ...] = ()
    dr_baselines: DRBaselines | None = None
    grid: GridCheck | None = None
    forecasts: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    end_state: RunState | None = None


def _check_dispatch(name: str, step: int, decision: Dispatch, layout: Layout) -> None:
    seg, sub = decision.seg_limit_kw, decision.sub_limit_kw
    n_sub = layout.n_substations
    if np.shape(seg) != (layout.n_segments,) or np.shape(sub) != (n_sub,):
        raise StrategyError(
            f"strategy {name!r} at step {step}: dispatch must give {layout.n_segments} segment "
            f"and {n_sub} substation limits, got {np.shape(seg)} and {np.shape(sub)}"
        )
    if not (np.all(np.isfinite(seg)) and np.all(np.isfinite(sub))):
        raise StrategyError(f"strategy {name!r} at step {step}: limits must be finite")
    if decision.storage_kw is not None and (
        np.shape(decision.storage_kw) != (n_sub,) or not np.all(np.isfinite(decision.storage_kw))
    ):
        raise StrategyError(
            f"strategy {name!r} at step {step}: storage_kw must give {n_sub} finite set-points"
        )
    if decision.import_target_kw is not None and (
        np.shape(decision.import_target_kw) != (n_sub,)
        or np.any(np.isnan(decision.import_target_kw))
    ):
        raise StrategyError(
            f"strategy {name!r} at step {step}: import_target_kw must give {n_sub} numbers "
            "(inf for no target)"
        )


def _merge_blocks(blocks: list[BlockReport]) -> BlockReport:
    """One report over consecutive blocks: energies add up, peaks are the highest, the
    vehicles and their SoC are those at the end."""
    if len(blocks) == 1:
        return blocks[0]
    last = blocks[-1]

    def total(name: str) -> FloatArray:
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
    step's measurements and the stored energy) or :meth:`hold` (a dispatch given from
    outside, e.g. a fallback), :meth:`limits` (dispatch within ratings and import caps), one
    or more :meth:`advance` calls (the twin under those limits and the V2G set-points; the
    live loop advances in ticks) and :meth:`close_step` (metering, the batteries' set-point
    realised), which returns the step's :class:`StepRecord`. :meth:`result` turns the records
    into a :class:`RunResult`.

    Parameters
    ----------
    world : World
        The run's world.
    policy : Strategy
    events : list of DREventSpec, optional
        Demand-response events known before the run (the scenario's own and any others);
        their import caps bind in every step.
    baselines : DRBaselines, optional
        The counterfactuals of :func:`dr_baselines`: what shed events shed from, and what the
        reported reductions are measured against. Needed when ``events`` is not empty.
    layout : Layout, optional
        The corridor the twin runs (the world's by default; the live loop passes its own copy
        so fault injection can change it).
    start_state : RunState, optional
        The end state of the run this one continues (it must end where this world starts):
        the road, the batteries, the last step's meters and the strategy's memory carry on.
        Without it the road starts empty; :meth:`warm_up` fills it first.

    Raises
    ------
    ScenarioError
        If ``start_state`` belongs to another scenario or ends elsewhere than the start.
    """

    def __init__(
        self,
        world: World,
        policy: Strategy,
        events: list[DREventSpec] | None = None,
        baselines: DRBaselines | None = None,
        layout: Layout | None = None,
        start_state: RunState | None = None,
    ) -> None:
        self.world = world
        self.scenario = scenario = world.scenario
        self.policy = policy
        self.layout = layout = world.layout if layout is None else layout
        self.index = index = world.index
        self.events = events = list(events or [])
        if events and baselines is None:
            raise StrategyError("demand-response events need their baselines (dr_baselines)")
        self.baselines = baselines
        n, n_sub = len(index), layout.n_substations
        self.caps = caps = (
            dr_caps(events, index, layout, baselines.own_import_kw if baselines else None)
            if events
            else np.full((n, n_sub), np.inf)
        )
        energy = world.energy
        if events:
            energy = replace(energy, import_limit_kw=np.minimum(energy.import_limit_kw, caps))
        self.energy = energy
        self.grid_case = prepare_grid(scenario, layout)  # fails fast on a wrong bus or network
        self.context = context = RunContext(world=world, energy=energy, layout=layout,
                                            grid_case=self.grid_case)  # fmt: skip
        policy.reset(context)

        self.dt_s = dt_s = scenario.simulation.twin_step_s
        self.steps_per_plan = scenario.simulation.twin_steps_per_plan
        self.twin = RoadTwin(layout, world.arrivals, dt_s, scenario.simulation.max_vehicles)
        self.storage = storage_arrays(scenario, layout)
        self._stored = self.storage.initial_kwh.copy()
        self._previous_import_kw: FloatArray | None = None
        self.start_state = start_state
        self.warmup_steps = 0
        """Planning steps the twin ran before the start, uncounted (:meth:`warm_up`)."""
        self.notes: list[str] = []
        if start_state is not None:
            self._carry_on(start_state)
        self._stored0 = self._stored.copy()
        self.records: list[StepRecord] = []
        self.totals = {  # per segment, summed over the run [kWh]
            key: np.zeros(layout.n_segments)
            for key in ("grid", "battery", "v2g_grid", "v2g_battery")
        }
        self.step = 0
        """The planning step in progress (or next to start)."""
        self.decision: Dispatch | None = None
        """The dispatch of the planning step in progress (read only: set it by
        :meth:`decide` or :meth:`hold`)."""
        self.last: BlockReport | None = None
        self._energy_left: FloatArray | None = None
        self._blocks: list[BlockReport] = []
        self._limit_h = np.zeros(n_sub)  # road limit × hours over the step [kWh]
        if start_state is not None:
            self.last = start_state.last

    def _carry_on(self, state: RunState) -> None:
        """Start from the end state of the run this one continues."""
        check_continues(state, self.scenario, self.index[0])
        n_sub = self.layout.n_substations
        if np.shape(state.stored_kwh) != (n_sub,):
            raise ScenarioError(
                f"the end state has {np.size(state.stored_kwh)} batteries, the corridor "
                f"{n_sub} substations: continue from a run of the same scenario"
            )
        self.twin.restore(state.twin)
        self._stored = np.asarray(state.stored_kwh, dtype=np.float64).copy()
        if state.import_kw is not None:
            self._previous_import_kw = np.asarray(state.import_kw, dtype=np.float64).copy()
        if state.strategy == self.policy.name:  # another strategy starts without memory
            self.policy.resume(state.strategy_state)

    def warm_up(self, steps: int) -> None:
        """Fill the road as it is at the start: run the twin ``steps`` planning steps before
        it, with the arrivals of that window, and count none of it.

        The road runs uncontrolled within its ratings and the connections' import limits
        (no batteries, no V2G, no demand-response caps): the strategy's memory and plans
        belong to the counted run. Vehicles on the road at the start keep their state; what
        they received before it is not counted (:meth:`RoadTwin.start_counting`).

        Parameters
        ----------
        steps : int
            Planning steps of the warm-up [-] (:func:`~ersgrid.timeindex.warmup_steps`).

        Raises
        ------
        StrategyError
            If the run has started or continues another run.
        """
        if self.step or self.records or self.start_state is not None or self.warmup_steps:
            raise StrategyError("the warm-up comes before the first step of a fresh run")
        if steps <= 0:
            return
        twin, note = warmed_twin(self.world, self.layout, steps)
        if twin is None:
            self.notes.append(note)
            return
        self.twin = twin
        self.warmup_steps = steps

    @property
    def stored_kwh(self) -> FloatArray:
        """Energy in each substation's stationary battery now [kWh] (a copy)."""
        return self._stored.copy()

    def decide(self) -> Dispatch:
        """Ask the strategy for the dispatch of the planning step that starts now (checked)."""
        k = self.step
        metered = self.records[-1].import_kw if self.records else self._previous_import_kw
        obs = Observation(
            step=k, time=self.index[k], vehicles=self.twin.state(), last=self.last,
            storage_kwh=self._stored.copy() if self.storage.present else None,
            import_kw=None if metered is None else metered.copy(),
        )  # fmt: skip
        decision = self.policy.decide(obs)
        return self.hold(decision)

    def hold(self, decision: Dispatch) -> Dispatch:
        """Apply ``decision`` to the planning step that starts now without asking the strategy
        (e.g. the safe fallback of the live loop when the strategy fails); checked."""
        _check_dispatch(self.policy.name, self.step, decision, self.layout)
        self.decision = decision
        self._energy_left = (
            None
            if decision.sub_energy_kwh is None
            else np.array(decision.sub_energy_kwh, dtype=np.float64)
        )
        return decision

    def caps_kw(self, step: int | None = None) -> FloatArray:
        """Import cap of each connection at ``step`` (now by default) [kW]: its import limit
        with the known demand-response caps."""
        out: FloatArray = self.energy.import_limit_kw[self.step if step is None else step].copy()
        return out

    def limits(self, caps_kw: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """Segment and substation road limits in force [kW]: the dispatch within the ratings
        and within what each connection's import cap leaves the road.

        The EMS keeps every hard limit whatever the strategy: the road gets what the cap
        leaves after the other loads and the batteries' charging set-point, with the local
        renewables and what the batteries can discharge at their set-point (how to share the
        cap between road and batteries is the strategy's choice). What the vehicles cannot get
        is unmet energy, not a violation.

        Parameters
        ----------
        caps_kw : ndarray [kW], optional
            Import cap of each connection now: the connection's import limit with the known
            demand-response caps by default (the live loop adds its own events and loads).
        """
        layout, k, en = self.layout, self.step, self.energy
        decision = self.decision or Dispatch(layout.seg_rating_kw, layout.sub_rating_kw)
        seg_limit = np.minimum(decision.seg_limit_kw, layout.seg_rating_kw)
        limit = np.minimum(decision.sub_limit_kw, layout.sub_rating_kw)
        caps = en.import_limit_kw[k] if caps_kw is None else caps_kw
        if np.isfinite(caps).any():
            charging = 0.0 if decision.storage_kw is None else np.maximum(decision.storage_kw, 0.0)
            room = caps - en.other_load_kw[k] + en.renewable_kw[k] - charging + self._discharge_kw()
            limit = np.minimum(limit, np.maximum(room, 0.0))
        return seg_limit, limit

    def _discharge_kw(self) -> FloatArray:
        """What the batteries can discharge at the dispatch's set-point now [kW]."""
        decision, st = self.decision, self.storage
        if decision is None or decision.storage_kw is None or not st.present:
            return np.zeros(self.layout.n_substations)
        content = np.maximum(self._stored - st.energy_min_kwh, 0.0) * st.discharge_efficiency
        asked = np.maximum(-np.asarray(decision.storage_kw, dtype=np.float64), 0.0)
        out: FloatArray = np.minimum(np.minimum(asked, st.power_kw), content / PLANNING_STEP_H)
        return out

    def v2g_room_kw(self) -> FloatArray:
        """Most V2G power each connection can take now without exporting beyond its export
        limit [kW]: the limit plus the other loads, less the local renewables."""
        k, en = min(self.step, len(self.index) - 1), self.energy
        room: FloatArray = np.maximum(
            en.export_limit_kw[k] + en.other_load_kw[k] - en.renewable_kw[k], 0.0
        )
        return room

    def advance(self, n_steps: int, seg_limit: FloatArray, limit: FloatArray) -> BlockReport:
        """Run the twin ``n_steps`` twin steps under the limits and the dispatch's V2G."""
        decision = self.decision
        seg_v2g = sub_v2g = None
        if decision is not None and decision.seg_v2g_kw is not None:
            seg_v2g = decision.seg_v2g_kw
            room = self.v2g_room_kw()
            sub_v2g = room if decision.sub_v2g_kw is None else np.minimum(decision.sub_v2g_kw, room)
        block = self.twin.advance(n_steps, seg_limit, limit, seg_v2g, sub_v2g, self._energy_left)
        if self._energy_left is not None:  # the step's energy budget spans its ticks
            charged = np.bincount(
                self.layout.seg_substation, weights=block.seg_grid_kwh,
                minlength=self.layout.n_substations,
            )  # fmt: skip
            self._energy_left = np.maximum(self._energy_left - charged, 0.0)
        self._blocks.append(block)
        self._limit_h += limit * block.duration_h
        return block

    def storage_now(
        self, road_kw: FloatArray, duration_h: float, extra_load_kw: FloatArray | float = 0.0
    ) -> FloatArray:
        """What the batteries do at the decided set-point and import target for a road power
        ``road_kw`` [kW] over ``duration_h`` [h] of the step in progress, without moving their
        energy (the live view of a tick; :meth:`close_step` realises the step) [kW]."""
        decision = self.decision
        n_sub = self.layout.n_substations
        if decision is None or decision.storage_kw is None or not self.storage.present:
            return np.zeros(n_sub)
        k, en = self.step, self.energy
        net_kw = road_kw + extra_load_kw + en.other_load_kw[k] - en.renewable_kw[k]
        power_kw, _ = realise_storage(
            np.asarray(decision.storage_kw, dtype=np.float64), self._stored, self.storage,
            net_kw, en.import_limit_kw[k], en.export_limit_kw[k], duration_h,
            may_export=bool(self.scenario.storage and self.scenario.storage.may_export),
            import_target_kw=decision.import_target_kw,
        )  # fmt: skip
        return power_kw

    def balance_now(
        self, road_kw: FloatArray, storage_kw: FloatArray, extra_load_kw: FloatArray | float = 0.0
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Import, export and curtailment of each connection now [kW] for a road and battery
        power (and any load beside them, e.g. service-area chargers) in the step in progress."""
        k = min(self.step, len(self.index) - 1)
        load = road_kw + storage_kw + extra_load_kw
        return connection_balance(np.asarray(load, dtype=np.float64), self.energy, k)

    def close_step(self) -> StepRecord:
        """Meter the planning step in progress, realise the batteries, move to the next."""
        k, storage, decision = self.step, self.storage, self.decision
        last = self.last = _merge_blocks(self._blocks)
        limit_kw = self._limit_h / last.duration_h
        self._blocks, self._limit_h = [], np.zeros(self.layout.n_substations)
        road_kw = last.sub_grid_kwh / PLANNING_STEP_H
        storage_kw = np.zeros(self.layout.n_substations)
        if decision is not None and decision.storage_kw is not None and storage.present:
            en = self.energy
            storage_kw, self._stored = realise_storage(
                np.asarray(decision.storage_kw, dtype=np.float64), self._stored, storage,
                road_kw + en.other_load_kw[k] - en.renewable_kw[k], en.import_limit_kw[k],
                en.export_limit_kw[k], PLANNING_STEP_H,
                may_export=bool(self.scenario.storage and self.scenario.storage.may_export),
                import_target_kw=decision.import_target_kw,
            )  # fmt: skip
        # batteries sit behind the connection beside the road: they add to its net load
        import_kw, export_kw, curtailed_kw = connection_balance(
            road_kw + storage_kw, self.energy, k
        )
        totals = self.totals
        totals["grid"] += last.seg_grid_kwh
        totals["battery"] += last.seg_battery_kwh
        totals["v2g_grid"] += last.seg_v2g_grid_kwh
        totals["v2g_battery"] += last.seg_v2g_battery_kwh
        record = StepRecord(
            step=k,
            road_kwh=last.sub_grid_kwh.copy(),
            road_peak_kw=last.sub_peak_kw.copy(),
            road_limit_kw=limit_kw,
            storage_kw=storage_kw,
            stored_kwh=self._stored.copy(),
            import_kw=import_kw,
            export_kw=export_kw,
            curtailed_kw=curtailed_kw,
            battery_kwh=float(last.seg_battery_kwh.sum()),
            v2g_grid_kwh=float(last.seg_v2g_grid_kwh.sum()),
            v2g_battery_kwh=float(last.seg_v2g_battery_kwh.sum()),
            request_kwh=float(last.seg_request_kwh.sum()),
            v2g_potential_kwh=float(last.seg_v2g_potential_kwh.sum()),
            vehicles_on_road=int(last.vehicles_on_road),
            mean_soc=float(last.mean_soc),
        )
        self.records.append(record)
        self.step += 1
        return record

    def result(self, wall0: float | None = None, caps_kw: FloatArray | None = None) -> RunResult:
        """Close open passes and build the run's result from the step records.

        Parameters
        ----------
        wall0 : float, optional
            ``time.perf_counter()`` at the run's start, for ``wall_time_s``.
        caps_kw : ndarray [kW], shape (steps, substations), optional
            Import caps that held through each step beyond the known events (the live
            loop's demand-response events and limit overrides; ``inf`` where none): the
            ``dr`` limit violations count the steps above them too.
        """
        scenario, layout, index, policy = self.scenario, self.layout, self.index, self.policy
        world, twin, events, energy = self.world, self.twin, self.events, self.energy
        records = self.records
        if len(records) != len(index):
            raise StrategyError(
                f"the run has {len(index)} planning steps, {len(records)} were closed"
            )
        twin.finish()
        h = PLANNING_STEP_H

        def stack(name: str) -> FloatArray:
            return np.asarray([getattr(r, name) for r in records], dtype=np.float64)

        def series(name: str) -> FloatArray:
            return np.asarray([getattr(r, name) for r in records], dtype=np.float64)

        road_sub_kw = stack("road_kwh") / h
        storage_kw, storage_kwh = stack("storage_kw"), stack("stored_kwh")
        import_kw, export_kw = stack("import_kw"), stack("export_kw")
        curtailed_kw = stack("curtailed_kw")
        sub_limit, sub_peak = stack("road_limit_kw"), stack("road_peak_kw")
        battery = series("battery_kwh")
        columns: dict[str, Any] = {"road_power_kw": road_sub_kw.sum(axis=1)}
        import_limit = np.where(np.isfinite(energy.import_limit_kw), energy.import_limit_kw, np.nan)
        for j, sid in enumerate(layout.sub_ids):
            columns[f"road_power_{sid}_kw"] = road_sub_kw[:, j]
            columns[f"road_limit_{sid}_kw"] = sub_limit[:, j]
            columns[f"road_peak_{sid}_kw"] = sub_peak[:, j]
            columns[f"grid_import_{sid}_kw"] = import_kw[:, j]
            columns[f"import_limit_{sid}_kw"] = import_limit[:, j]
        columns |= {
            "battery_power_kw": battery / h,
            "v2g_discharge_kw": series("v2g_grid_kwh") / h,
            "v2g_battery_kw": series("v2g_battery_kwh") / h,
            "losses_kw": (road_sub_kw.sum(axis=1) * h - battery + series("v2g_battery_kwh")) / h,
            "road_request_kw": series("request_kwh") / h,
            "v2g_potential_kw": series("v2g_potential_kwh") / h,
            "other_load_kw": energy.other_load_kw.sum(axis=1),
            "renewable_kw": energy.renewable_kw.sum(axis=1),
            "storage_power_kw": storage_kw.sum(axis=1),
            "storage_energy_kwh": storage_kwh.sum(axis=1),
            "curtailed_kw": curtailed_kw.sum(axis=1),
            "grid_import_kw": import_kw.sum(axis=1),
            "grid_export_kw": export_kw.sum(axis=1),
            "price_per_kwh": world.price_per_kwh,
            "network_fee_per_kwh": world.network_fee_per_kwh,
            "user_price_per_kwh": world.user_price_per_kwh,
            "co2_kg_per_kwh": world.co2_kg_per_kwh,
            "vehicles_on_road": np.asarray([r.vehicles_on_road for r in records], dtype=np.int64),
            "mean_soc": series("mean_soc"),
        }
        plants = world.plants
        for kind in plants.kinds_present:
            columns[f"{kind}_kw"] = plants.of_kind(kind)
        forecasts = getattr(policy, "forecasts", None)
        if not isinstance(forecasts, pd.DataFrame):
            forecasts = None
        else:  # what the strategy planned on (e.g. mpc)
            columns |= {str(c): forecasts[c].to_numpy() for c in forecasts.columns}
        # the power flow and renewable accounting see the road and its batteries together
        energy_columns, energy_kpis, grid_check = energy_outputs(
            world, road_sub_kw + storage_kw, energy, self.grid_case
        )
        columns |= energy_columns
        timeseries = pd.DataFrame(columns, index=index.rename("time"))
        trips = trips_table(
            twin.trips(), scenario, layout, index[0], self.dt_s,
            (twin.under_way_ids, twin.under_way_km),
        )  # fmt: skip
        passes = twin.passes()
        days = len(index) * h / 24.0
        # the caps in force: the known events', and those imposed during the run
        limits_kw = energy.import_limit_kw
        if caps_kw is not None:
            limits_kw = np.minimum(limits_kw, caps_kw)
        kpis = compute_kpis(
            scenario=scenario,
            strategy=policy.name,
            timeseries=timeseries,
            trips=trips,
            passes=passes,
            twin_step_s=self.dt_s,
            metered_kwh={key: float(value.sum()) for key, value in self.totals.items()},
            on_road_kwh=twin.received_on_road(),
            vehicles_on_road_at_end=twin.vehicles_on_road,
            limit_violations=limit_violations(
                twin.limit_violations,
                import_kw,
                curtailed_kw,
                world.energy.import_limit_kw,
                limits_kw,
                energy.renewable_kw,
            ),
            vehicle_steps=twin.vehicle_steps,
            days=days,
            fallbacks=int(policy.fallbacks),
            storage_discharged_kwh=float(np.maximum(-storage_kw, 0.0).sum() * h),
            storage_change_kwh=float(self._stored.sum() - self._stored0.sum()),
        )
        kpis |= energy_kpis
        if scenario.grid is not None:  # what of the network the plans acted on
            kpis["planned_network_limits"] = len(policy.network_limits)
            kpis["planned_network_slack_steps"] = int(policy.network_slack_steps)
        kpis["trips_shifted_expected"] = world.trips_shifted
        performance: tuple[DRPerformance, ...] = ()
        if events and self.baselines is not None:
            performance = tuple(
                dr_performance(
                    events,
                    index,
                    layout,
                    self.caps,
                    self.baselines.own_import_kw,
                    import_kw,
                    h,
                    self.baselines.cbl_import_kw,
                )
            )
            kpis |= {
                "dr_events": len(performance),
                "dr_baseline": f"{self.baselines.strategy} without the events",
                "dr_reduction_kwh": sum(p.reduction_kwh for p in performance),
                "dr_reduction_cbl_kwh": sum(p.reduction_cbl_kwh for p in performance),
                "dr_max_excess_kw": max(p.max_excess_kw for p in performance),
                "dr_honoured": all(p.honoured for p in performance if p.opt_in),
            }
        if wall0 is not None:
            kpis["wall_time_s"] = round(time.perf_counter() - wall0, 3)
        notes = tuple(str(n) for n in (*self.notes, *policy.notes))
        if notes:
            kpis["notes"] = list(notes)
        return RunResult(
            scenario=scenario,
            strategy=policy.name,
            kpis=kpis,
            timeseries=timeseries,
            trips=trips,
            passes=passes,
            world=world,
            energy=energy,
            records=tuple(records),
            import_kw=import_kw,
            export_kw=export_kw,
            curtailed_kw=curtailed_kw,
            road_sub_kw=road_sub_kw,
            storage_kw=storage_kw,
            storage_kwh=storage_kwh,
            dr=performance,
            dr_baselines=self.baselines,
            grid=grid_check,
            forecasts=forecasts,
            notes=notes,
            end_state=self.end_state(import_kw),
        )

    def end_state(self, import_kw: FloatArray) -> RunState:
        """Where the run stands after its last step, to continue it (:class:`RunState`).

        Parameters
        ----------
        import_kw : ndarray [kW], shape (steps, substations)
            The connections' metered import of every step of the run.
        """
        step = pd.Timedelta(minutes=self.scenario.simulation.planning_step_min)
        end = self.index[-1] + step
        obs = Observation(
            step=len(self.index), time=end, vehicles=self.twin.state(), last=self.last,
            storage_kwh=self._stored.copy() if self.storage.present else None,
            import_kw=self.records[-1].import_kw.copy() if self.records else None,
        )  # fmt: skip
        month, peak = month_peak(self.index, import_kw, self.start_state)
        return RunState(
            scenario=self.scenario.name,
            fingerprint=scenario_fingerprint(self.scenario),
            strategy=self.policy.name,
            end=end,
            twin=self.twin.snapshot(),
            stored_kwh=self._stored.copy(),
            last=self.last,
            import_kw=obs.import_kw,
            peak_month=month,
            peak_import_kw=peak,
            strategy_state=dict(self.policy.end_state(obs)),
        )


LIMIT_TOLERANCE_KW = 1e-3
"""Power above a limit that counts as breaking it [kW] (rounding of the 15-min means)."""


def limit_violations(
    rating_steps: int,
    import_kw: FloatArray,
    curtailed_kw: FloatArray,
    own_limit_kw: FloatArray,
    limit_kw: FloatArray,
    renewable_kw: FloatArray,
) -> dict[str, int]:
    """Every hard limit a run broke, by kind [-].

    Parameters
    ----------
    rating_steps : int
        Twin steps at which a segment or substation drew more than its rating.
    import_kw, curtailed_kw : ndarray [kW], shape (steps, substations)
        The connections' mean import and curtailment over each planning step.
    own_limit_kw : ndarray [kW], shape (steps, substations)
        The connections' own import limits.
    limit_kw : ndarray [kW], shape (steps, substations)
        The import limits in force: the connections' with the demand-response caps (and, in
        the live service, the operator's limit overrides).
    renewable_kw : ndarray [kW], shape (steps, substations)
        Local renewables at each connection.

    Returns
    -------
    dict
        ``rating`` (twin steps), ``import`` (connection-steps above the import limit),
        ``dr`` (connection-steps above a demand-response cap below that limit) and ``export``
        (connection-steps whose surplus beyond the export limit was not local renewables, so
        could not be curtailed: V2G or storage exported past the limit).
    """
    tol = LIMIT_TOLERANCE_KW
    over_own = import_kw > own_limit_kw * (1.0 + 1e-9) + tol
    over_cap = (import_kw > limit_kw * (1.0 + 1e-9) + tol) & ~over_own
    export_excess = curtailed_kw > renewable_kw + tol
    return {
        "rating": int(rating_steps),
        "import": int(over_own.sum()),
        "dr": int(over_cap.sum()),
        "export": int(export_excess.sum()),
    }


def _loop(stepper: Stepper, progress: ProgressCallback | None) -> None:
    n = len(stepper.index)
    for k in range(n):
        stepper.decide()
        seg_limit, limit = stepper.limits()
        stepper.advance(stepper.steps_per_plan, seg_limit, limit)
        stepper.close_step()
        if progress is not None:
            progress(k + 1, n)


CBL_LOOKBACK_DAYS = 21
"""Days simulated before a run with demand-response events, for its 10-of-10 baseline (ten
weekdays and room for weekends and public holidays)."""


@dataclass(frozen=True)
class DRBaselines:
    """The counterfactual imports a run's demand-response events are measured against.

    Attributes
    ----------
    own_import_kw : ndarray [kW], shape (steps, substations)
        The run's strategy without the events, on the same world: what shed events shed
        from and what ``reduction_kwh`` is measured against.
    cbl_import_kw : ndarray [kW], shape (steps, substations)
        The 10-of-10 customer baseline in the events' steps (NaN elsewhere), from the road's
        import under uncontrolled operation on the eligible weekdays before each event's day.
    strategy : str
        Name of the strategy of the own baseline.
    """

    own_import_kw: FloatArray
    cbl_import_kw: FloatArray
    strategy: str


def _imports(stepper: Stepper) -> FloatArray:
    if stepper.start_state is None:
        stepper.warm_up(warmup_steps(stepper.scenario))
    _loop(stepper, None)
    return np.asarray([r.import_kw for r in stepper.records], dtype=np.float64)


def dr_baselines(
    world: World,
    own: Strategy,
    events: list[DREventSpec],
    start_state: RunState | None = None,
) -> DRBaselines:
    """Both counterfactuals of a run with demand-response events (an explicit step before the
    run: they are runs of their own).

    Parameters
    ----------
    world : World
        The run's world.
    own : Strategy
        A fresh instance of the run's strategy (it is reset and run here).
    events : list of DREventSpec
        The run's events.
    start_state : RunState, optional
        The end state the run continues from (the own baseline starts from it too).
    """
    own_import = _imports(Stepper(world, own, start_state=start_state))
    sc, index = world.scenario, world.index
    first = index[0].normalize()
    step = pd.Timedelta(minutes=sc.simulation.planning_step_min)
    span = pd.date_range(
        first - pd.Timedelta(days=CBL_LOOKBACK_DAYS),
        (index[-1] + step).ceil("D") if (index[-1] + step) > first else first,
        freq=step,
        inclusive="left",
    ).tz_convert(sc.timezone)
    history = build_world(sc, span, layout=world.layout)
    history_import = _imports(Stepper(history, make_strategy("uncontrolled")))
    event_days = np.zeros(len(span), dtype=bool)
    for event in events:
        touched = pd.Index(span.normalize())[event_steps(event, span)].unique()
        event_days |= pd.Index(span.normalize()).isin(touched)
    skip = history.calendar.off_day | event_days
    mask = np.zeros(len(index), dtype=bool)
    for event in events:
        mask |= event_steps(event, index)
    try:
        cbl = cbl_10of10(index, mask, span, history_import, skip)
    except ValueError as err:
        raise ScenarioError(f"demand-response baseline: {err}") from None
    return DRBaselines(own_import, cbl, own.name)


def run(
    scenario: Scenario | str | Path,
    strategy: str | Strategy = "uncontrolled",
    days: float = 1.0,
    start: dt.date | None = None,
    seed: int | None = None,
    progress: ProgressCallback | None = None,
    dr_events: list[DREventSpec] | None = None,
    start_state: RunState | None = None,
) -> RunResult:
    """Run a scenario end to end under a strategy; returns the result and writes nothing.

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
    progress : callable, optional
        Called as ``progress(done_steps, total_steps)`` after each planning step.
    dr_events : list of DREventSpec, optional
        Demand-response events beside the scenario's own (e.g. from a CSV file or a VTN).
        With any event, the run first simulates its counterfactuals (:func:`dr_baselines`):
        the same strategy without the events on the same world (the baseline of sheds and of
        the reduction), and the 10-of-10 customer baseline.
    start_state : RunState, optional
        ``end_state`` of the run this one continues: the run starts where that one ended
        (``start`` may be left out; given, it must be that day) with its vehicles,
        batteries, meters and the strategy's memory. Without it the twin first warms up
        (``simulation.warmup_h``), so the road is as it would be at the start.

    Raises
    ------
    ScenarioError
        If ``start_state`` belongs to another scenario (or seed) or ends elsewhere.

    Notes
    -----
    Nothing before the start is counted: not the warm-up, and not what the vehicles on the
    road at the start received before it (see ``docs/results.md``). Write the result with
    :func:`ersgrid.write_results`.
    """
    wall0 = time.perf_counter()
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    policy = make_strategy(strategy) if isinstance(strategy, str) else strategy
    world = build_world(scenario, _run_index(scenario, days, start, start_state))
    events = [*scenario.demand_response.events, *(dr_events or [])]
    baselines = None
    if events:
        own = make_strategy(strategy) if isinstance(strategy, str) else copy.deepcopy(policy)
        baselines = dr_baselines(world, own, events, start_state)
    stepper = Stepper(world, policy, events, baselines, start_state=start_state)
    if start_state is None:
        stepper.warm_up(warmup_steps(scenario))
    _loop(stepper, progress)
    return stepper.result(wall0)


def _run_index(
    scenario: Scenario, days: float, start: dt.date | None, state: RunState | None
) -> pd.DatetimeIndex:
    """The run's planning steps: from ``start`` (local midnight), or from where ``state``
    ended when no start is given."""
    if state is None or start is not None:
        index = planning_index(scenario, days, start)
        if state is not None:
            check_continues(state, scenario, index[0])
        return index
    end = pd.Timestamp(state.end).tz_convert(scenario.timezone)
    planning_index(scenario, days, end.date())  # the length and the calendar's years
    step_min = scenario.simulation.planning_step_min
    n = round(days * 24 * 60 / step_min)
    return pd.date_range(end, periods=n, freq=f"{step_min}min")
