"""The live control loop: the strategy decides, the twin runs on an accelerated clock.

The loop drives the study runner's :class:`~ersgrid.run.runner.Stepper` (the same layout,
traffic, prices, energy context, strategy and metering as ``ersgrid run``) but advances it
in short *ticks* (15 s of scenario time by default) so that the live state, telemetry and
detectors see the road as it runs. At each planning-step boundary (15 min) the strategy
decides a :class:`Dispatch` (seeing the previous step's measurements and the stored energy);
at every tick the dispatch is capped by active demand-response events, by the operator's limit
overrides and by safe limits of segments whose devices went silent, and its V2G and storage
set-points are applied. An operator may switch the strategy: the new one takes over at the
next planning step (a step runs under the dispatch it started with).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import Dispatch, Strategy
from ersgrid.control.registry import make_strategy, strategy_names
from ersgrid.errors import ErsgridError, ServiceError, StrategyError
from ersgrid.grid.frequency import steady_deviation_hz
from ersgrid.run.runner import RunResult, Stepper, StepRecord, limit_violations
from ersgrid.scenario.layout import build_layout
from ersgrid.scenario.loader import load_scenario
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.service.alarms import AlarmBook
from ersgrid.service.dr import DrBook
from ersgrid.service.instruments import Instruments, Readings
from ersgrid.timeindex import PLANNING_STEP_H, planning_index, warmup_steps
from ersgrid.world.traffic import ers_fraction
from ersgrid.world.world import build_world

__all__ = ["FAULT_KINDS", "LiveLoop", "TickReport"]

log = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FAULT_KINDS = ("coil_efficiency", "segment_meter", "substation_meter", "sensor_stuck", "cooling")
SOC_BINS = np.linspace(0.0, 1.0, 11)


@dataclass(frozen=True)
class TickReport:
    """One tick of the live loop, what observers (telemetry, storage, detectors) receive.

    Attributes
    ----------
    time : Timestamp
        Scenario time at the end of the tick (tz-aware).
    duration_s : float [s]
    seg_power_kw : ndarray [kW]
        True mean grid-side power per segment over the tick.
    seg_limit_kw : ndarray [kW]
        Effective segment limits applied (dispatch, ratings, safe limits).
    sub_road_kw : ndarray [kW]
        True road power per substation.
    sub_limit_kw : ndarray [kW]
        Effective road limit per substation (dispatch, ratings, DR caps).
    sub_import_kw : ndarray [kW]
        Grid import per substation: road, batteries, service-area chargers and other loads
        minus renewables, at least 0.
    seg_vehicles : ndarray of int
        Vehicles on each segment at the end of the tick.
    readings : Readings
        What the meters and sensors reported.
    soc_counts : ndarray of int
        Vehicles on the road by state of charge, bins of :data:`SOC_BINS`.
    price_per_kwh : float [currency/kWh]
    co2_kg_per_kwh : float [kg/kWh]
    sub_storage_kw : ndarray [kW]
        Stationary batteries per substation (charging positive).
    sub_charger_kw : ndarray [kW]
        Service-area chargers per substation, as their stations last metered (OCPP).
    seg_v2g_kw : ndarray [kW]
        V2G power returned to the grid per segment.
    frequency_hz : float [Hz]
        System frequency: the scenario's nominal plus the quasi-steady deviation of its
        single-area model (:func:`~ersgrid.grid.frequency.steady_deviation_hz`) for the
        corridor's import against its schedule (the last planning step's mean import).
    sub_net_kw : ndarray [kW]
        Net load per substation without the chargers: road, batteries and other loads
        minus renewables (negative: a surplus the chargers may use).
    plan_step : int
        The planning step the tick belongs to (its loads, renewables and prices).
    """

    time: pd.Timestamp
    duration_s: float
    seg_power_kw: FloatArray
    seg_limit_kw: FloatArray
    sub_road_kw: FloatArray
    sub_limit_kw: FloatArray
    sub_import_kw: FloatArray
    seg_vehicles: IntArray
    readings: Readings
    soc_counts: IntArray
    price_per_kwh: float
    co2_kg_per_kwh: float
    sub_storage_kw: FloatArray
    sub_charger_kw: FloatArray
    seg_v2g_kw: FloatArray
    frequency_hz: float
    sub_net_kw: FloatArray
    plan_step: int = 0


def ers_traffic(stepper: Stepper) -> tuple[IntArray, FloatArray]:
    """ERS vehicles entering per planning step: realised, and the forecast the planners use
    (the traffic model's expectation after the price response) [veh/step]."""
    world = stepper.world
    sc, arrivals, volume = world.scenario, world.arrivals, world.expected_volume
    n = len(stepper.index)
    step_s = PLANNING_STEP_H * 3600.0
    actual = np.bincount((arrivals.time_s // step_s).astype(np.int64), minlength=n)[:n]
    forecast = np.zeros(n)
    for name in VEHICLE_CLASSES:
        if name in sc.vehicles:
            both = volume[f"{name}_A"] + volume[f"{name}_B"]
            forecast += both.to_numpy(dtype=np.float64) * ers_fraction(sc, name)
    return actual.astype(np.int64), forecast


Observer = Callable[[TickReport], None]


class LiveLoop:
    """The twin of a corridor run live under a strategy.

    Parameters
    ----------
    scenario : Scenario, str or Path
    strategy : str
        Built-in name or ``module:Class``.
    speed : float [-]
        Scenario seconds per wall-clock second (60: one hour per minute).
    days : float [d]
        Scenario days the loop covers before it stops.
    tick_s : float [s]
        Scenario time per tick; divides the planning step.
    start : date, optional
    seed : int, optional
    safe_limit_kw : float [kW]
        Limit of a segment whose device has gone silent.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path,
        strategy: str = "uncontrolled",
        speed: float = 60.0,
        days: float = 7.0,
        tick_s: float = 15.0,
        start: dt.date | None = None,
        seed: int | None = None,
        safe_limit_kw: float = 0.0,
    ) -> None:
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        if seed is not None:
            sc = sc.model_copy(update={"seed": int(seed)})
        self.scenario = sc
        self.policy = make_strategy(strategy)
        # our own copy of the efficiencies: fault injection changes them in place
        layout = build_layout(sc)
        self.layout = dataclasses.replace(layout, seg_efficiency=layout.seg_efficiency.copy())
        self.days = float(days)
        self.world = world = build_world(sc, planning_index(sc, days, start), layout=layout)
        self.stepper = Stepper(world, self.policy, layout=self.layout)
        # the road as it is at the start, as a batch run of the same window has it
        self.stepper.warm_up(warmup_steps(sc))
        st = self.stepper
        self.index, self.price, self.co2 = st.index, world.price_per_kwh, world.co2_kg_per_kwh
        self.context, self.twin = st.context, st.twin
        self.dt_s, self.steps_per_plan = st.dt_s, st.steps_per_plan
        self.tick_steps = max(1, round(tick_s / self.dt_s))
        if self.steps_per_plan % self.tick_steps:
            raise ServiceError(
                f"tick_s = {tick_s}: must divide the planning step of "
                f"{sc.simulation.planning_step_min} min into whole twin steps"
            )
        self.instruments = Instruments(self.layout, sc.seed + 1)
        self.alarms = AlarmBook(self._clock_iso)
        self.dr = DrBook(self.layout.sub_ids)
        self.overrides = DrBook(self.layout.sub_ids)
        """The operator's overrides of substation import limits (each names one substation)."""
        self.pending_policy: Strategy | None = None
        """The strategy that takes over at the next planning step (:meth:`set_strategy`)."""
        self.strategy_changes: list[dict[str, Any]] = []
        n_sub = self.layout.n_substations
        # the loosest cap of each kind in force at any tick of the step in progress: the cap
        # that held through the whole step (inf where none did)
        self._held = np.full((2, n_sub), -np.inf)
        self.held_caps_kw: list[FloatArray] = []
        """Per closed planning step: the DR caps and the DR caps with the overrides that held
        through it, shape (2, substations) [kW]."""
        plants = world.plants
        self.pv_kw = np.nan_to_num(plants.per_connection(self.layout.sub_ids, "pv"))
        """PV output at each connection per planning step [kW], shape (steps, substations)."""
        self.wind_kw = np.nan_to_num(plants.per_connection(self.layout.sub_ids, "wind"))
        """Wind output at each connection per planning step [kW]."""
        self.safe_limit_kw = float(safe_limit_kw)
        self.safe_segments: set[int] = set()
        self.observers: list[Observer] = []
        self.observer_errors = 0
        self.speed = float(speed)
        self.finished = False
        self.ticks = 0
        self._changes = 0  # counts the loop's own changes (ticks, limits held, faults)
        self.charger_kw = np.zeros(self.layout.n_substations)
        """Metered power of service-area chargers per substation (OCPP) [kW]."""
        self.result: RunResult | None = None
        """The run's results (KPIs, time series) once the loop has finished."""
        self._wall0 = time.perf_counter()
        self.ers_entered, self.ers_forecast = ers_traffic(st)
        self.finishers: list[Callable[[], None]] = []
        """Called once the last planning step is metered and the open passes closed."""
        self._schedule_kw: float | None = None
        self.decided_at: pd.Timestamp | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=4 * 96)
        self.last: TickReport | None = None
        self.faults: list[dict[str, Any]] = []
        self.lag_s = 0.0
        self._plan_acc = np.zeros((3, self.layout.n_substations))
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- time -------------------------------------------------------------------------
    @property
    def now(self) -> pd.Timestamp:
        """Scenario time now (tz-aware)."""
        return self.index[0] + pd.Timedelta(seconds=self.twin.step * self.dt_s)

    @property
    def plan_step(self) -> int:
        """Index of the planning step the loop is in."""
        return min(self.twin.step // self.steps_per_plan, len(self.index) - 1)

    def _clock_iso(self) -> str:
        return self.now.isoformat()

    @property
    def decision(self) -> Dispatch | None:
        """The dispatch of the planning step in progress."""
        return self.stepper.decision

    # ---- one tick ---------------------------------------------------------------------
    def tick(self) -> TickReport | None:
        """Advance the twin by one tick; returns its report, or None once finished."""
        with self._lock:
            if self.finished:
                return None
            if self.twin.step % self.steps_per_plan == 0:
                if self.stepper.step >= len(self.index):
                    self._finish()
                    return None
                self._switch_strategy()
                self._decide()
            return self._advance()

    def _finish(self) -> None:
        """The last planning step is metered: close open passes and build the results."""
        self.finished = True
        self._changes += 1
        try:
            caps = np.array(self.held_caps_kw)[:, 1] if self.held_caps_kw else None
            self.result = self.stepper.result(self._wall0, caps_kw=caps)
        except Exception as err:  # results are a report; failing them must not stop the API
            log.exception("the live run's results failed")
            self.alarms.raise_alarm(
                "loop_error", "corridor", f"results of the run failed: {err}", "warning", "loop"
            )
        for finisher in self.finishers:
            try:
                finisher()
            except Exception as err:  # e.g. the ledger's last period: alarm, keep serving
                log.exception("finisher %r failed", finisher)
                self.alarms.raise_alarm(
                    "observer_error", getattr(finisher, "__qualname__", "finisher"),
                    f"{type(err).__name__}: {err}", "warning", "loop",
                )  # fmt: skip

    def _decide(self) -> None:
        k = self.stepper.step
        lay = self.layout
        try:
            self.stepper.decide()
        except Exception as err:  # a strategy bug must not stop the road: fall back to ratings
            self.alarms.raise_alarm(
                "strategy_error", "corridor", f"strategy {self.policy.name!r} failed: {err}; "
                "running on equipment ratings", "critical", "loop",
            )  # fmt: skip
            self.stepper.hold(Dispatch(lay.seg_rating_kw.copy(), lay.sub_rating_kw.copy()))
        self.decided_at = self.index[k]
        self._changes += 1

    # ---- strategy -----------------------------------------------------------------------
    def set_strategy(self, name: str) -> dict[str, Any]:
        """Switch the strategy at the next planning step.

        The strategy is built and prepared (:meth:`Strategy.reset`, which may train its
        forecasts) in the caller's thread, so the road runs on meanwhile; it takes over at the
        start of the next planning step and decides that step. A later call replaces a switch
        still pending; naming the strategy in force cancels it.

        Raises
        ------
        ServiceError
            If ``name`` is not a strategy (built-in name, preset or ``module:Class``), or its
            preparation fails.
        """
        try:
            policy = make_strategy(name) if name != self.policy.name else None
            if policy is not None:
                policy.reset(self.context)
        except StrategyError as err:
            raise ServiceError(f"strategy {name!r}: {err}") from None
        except Exception as err:  # a strategy that cannot prepare must not reach the road
            raise ServiceError(f"strategy {name!r} cannot start: {err}") from None
        with self._lock:
            self.pending_policy = policy
            self._changes += 1
            return self.strategy_view()

    def strategy_view(self) -> dict[str, Any]:
        """The strategy in force, the one pending, the switches so far and the built-ins."""
        pending = self.pending_policy
        return {
            "strategy": self.policy.name,
            "pending": None if pending is None else pending.name,
            "takes_over_at": None
            if pending is None or self.plan_step + 1 >= len(self.index)
            else self.index[self.plan_step + 1].isoformat(),
            "changes": list(self.strategy_changes),
            "available": strategy_names(),
        }

    def _switch_strategy(self) -> None:
        new = self.pending_policy
        if new is None:
            return
        self.pending_policy = None
        old, k = self.policy, self.stepper.step
        self.policy = self.stepper.policy = new
        change = {"time": self.index[k].isoformat(), "from": old.name, "to": new.name}
        self.strategy_changes.append(change)
        self.stepper.notes.append(f"strategy switched from {old.name} to {new.name} at "
                                  f"{change['time']}")  # fmt: skip
        log.info("strategy %s -> %s at %s", old.name, new.name, change["time"])

    # ---- limits -------------------------------------------------------------------------
    def import_caps_kw(self, now: pd.Timestamp | None = None) -> FloatArray:
        """Import cap per substation the active DR events and the operator's limit overrides
        set at ``now`` (the loop's time by default) [kW]; ``inf`` where none is active."""
        when = self.now if now is None else now
        caps: FloatArray = np.minimum(self.dr.import_caps_kw(when),
                                      self.overrides.import_caps_kw(when))  # fmt: skip
        return caps

    def limit_kpis(self) -> dict[str, int]:
        """Limits the live run has broken so far, by kind [-], over the closed planning steps.

        The same count as a run's ``limit_violations`` KPIs
        (:func:`~ersgrid.run.runner.limit_violations`): ``rating`` (twin steps), ``import``,
        ``dr`` and ``export`` (connection-steps), the ``dr`` count with the demand-response
        caps and the overrides that held through each step; ``override`` is the part of
        ``dr`` above an override but within the DR caps.
        """
        st = self.stepper  # list copies are atomic: no lock, so async routes never wait
        records, held = list(st.records), np.array(list(self.held_caps_kw))
        n = min(len(records), len(held))
        n_sub = self.layout.n_substations
        if n == 0:
            return {"rating": int(st.twin.limit_violations), "import": 0, "dr": 0, "export": 0,
                    "override": 0}  # fmt: skip
        imports = np.array([r.import_kw for r in records[:n]]).reshape(n, n_sub)
        curtailed = np.array([r.curtailed_kw for r in records[:n]]).reshape(n, n_sub)
        own = st.energy.import_limit_kw[:n]
        counts = [
            limit_violations(st.twin.limit_violations, imports, curtailed, own,
                             np.minimum(own, held[:n, j]), st.energy.renewable_kw[:n])
            for j in (0, 1)
        ]  # fmt: skip
        return counts[1] | {"override": counts[1]["dr"] - counts[0]["dr"]}

    def set_charger_power(self, power_kw: FloatArray) -> None:
        """Metered power of the service-area chargers per substation [kW] (from OCPP)."""
        power = np.asarray(power_kw, dtype=np.float64)
        if power.shape != (self.layout.n_substations,) or not np.isfinite(power).all():
            raise ServiceError(
                f"charger power: {self.layout.n_substations} finite numbers, got {power.shape}"
            )
        with self._lock:
            self.charger_kw = power
            self._changes += 1

    def set_safe(self, i: int, safe: bool) -> None:
        """Hold segment ``i`` at the safe limit (its device went silent) or release it."""
        with self._lock:
            if safe:
                self.safe_segments.add(i)
            else:
                self.safe_segments.discard(i)
            self._changes += 1

    @property
    def revision(self) -> tuple[int, int, int]:
        """Changes so far of the loop (with a strategy switch asked), its alarms, and its DR
        events and limit overrides: a view of the loop rendered at one revision is true until
        the revision moves."""
        return self._changes, self.alarms.revision, self.dr.revision + self.overrides.revision

    def effective_limits(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Segment limit, substation road limit and import cap in force now [kW] (each
        connection's import limit with the demand-response caps)."""
        with self._lock:
            return self._effective_limits()

    def _effective_limits(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        st = self.stepper
        caps = np.minimum(self.import_caps_kw(), st.caps_kw(self.plan_step))
        # the chargers of the service areas draw through the same connection
        seg, sub = st.limits(caps - self.charger_kw)
        seg = seg.copy()
        for i in self.safe_segments:
            seg[i] = min(seg[i], self.safe_limit_kw)
        return seg, sub, caps

    def _advance(self) -> TickReport:
        lay = self.layout
        k = self.plan_step
        seg_limit, sub_limit, _ = self._effective_limits()
        dr_caps = self.dr.import_caps_kw(self.now)
        self._held = np.maximum(self._held, np.vstack([dr_caps, self.import_caps_kw()]))
        block = self.stepper.advance(self.tick_steps, seg_limit, sub_limit)
        duration_h = block.duration_h
        when = self.now
        readings = self.instruments.read(
            block.seg_grid_kwh, block.seg_battery_kwh, duration_h * 3600.0,
            when.hour + when.minute / 60.0 + when.second / 3600.0,
        )  # fmt: skip
        segs, soc = self.twin.segments_and_soc()
        soc_counts = np.histogram(np.clip(soc, 0.0, 1.0), SOC_BINS)[0].astype(np.int64)
        seg_vehicles = np.bincount(segs[segs >= 0], minlength=lay.n_segments).astype(np.int64)
        sub_road_kw = block.sub_grid_kwh / duration_h
        st = self.stepper
        storage_kw = st.storage_now(sub_road_kw, duration_h, self.charger_kw)
        energy = st.energy
        sub_net_kw = sub_road_kw + storage_kw + energy.other_load_kw[k] - energy.renewable_kw[k]
        sub_import = st.balance_now(sub_road_kw, storage_kw, self.charger_kw)[0]
        total_kw = float(sub_import.sum())
        if self._schedule_kw is None:
            self._schedule_kw = total_kw
        imbalance_mw = (total_kw - self._schedule_kw) / 1000.0
        frequency_hz = float(self.scenario.frequency.nominal_hz) + steady_deviation_hz(
            self.scenario.frequency, imbalance_mw
        )
        report = TickReport(
            time=when,
            frequency_hz=frequency_hz,
            duration_s=duration_h * 3600.0,
            seg_power_kw=block.seg_grid_kwh / duration_h,
            seg_limit_kw=seg_limit,
            sub_road_kw=sub_road_kw,
            sub_limit_kw=sub_limit,
            sub_import_kw=sub_import,
            seg_vehicles=seg_vehicles,
            readings=readings,
            soc_counts=soc_counts,
            price_per_kwh=float(self.price[k]),
            co2_kg_per_kwh=float(self.co2[k]),
            sub_storage_kw=storage_kw,
            sub_charger_kw=self.charger_kw.copy(),
            sub_net_kw=sub_net_kw,
            plan_step=k,
            seg_v2g_kw=block.seg_v2g_grid_kwh / duration_h,
        )
        self._plan_acc += np.vstack([sub_road_kw, sub_limit, sub_import]) * duration_h
        self.last = report
        if self.twin.step % self.steps_per_plan == 0:
            self._close_plan_step(k, self.stepper.close_step())
        self.ticks += 1
        self._changes += 1
        for observer in list(self.observers):
            try:
                observer(report)
            except Exception as err:  # an observer must never stop the road
                self.observer_errors += 1
                log.exception("observer %r failed", observer)
                self.alarms.raise_alarm(
                    "observer_error", getattr(observer, "__qualname__", "observer"),
                    f"{type(err).__name__}: {err}", "warning", "loop",
                )  # fmt: skip
        return report

    def _close_plan_step(self, k: int, record: StepRecord) -> None:
        self.held_caps_kw.append(self._held)
        self._held = np.full_like(self._held, -np.inf)
        mean = self._plan_acc / PLANNING_STEP_H
        self._plan_acc[:] = 0.0
        self._schedule_kw = float(mean[2].sum())  # the next step's schedule
        self.history.append(
            {
                "time": self.index[k].isoformat(),
                "road_kw": float(mean[0].sum()),
                "road_limit_kw": float(mean[1].sum()),
                "import_kw": float(mean[2].sum()),
                "sub_road_kw": mean[0].round(3).tolist(),
                "sub_limit_kw": mean[1].round(3).tolist(),
                "storage_kw": float(record.storage_kw.sum()),
                "storage_kwh": float(record.stored_kwh.sum()),
                "v2g_kw": float(record.v2g_grid_kwh / PLANNING_STEP_H),
                "ers_entered": int(self.ers_entered[k]),
                "ers_entered_forecast": float(self.ers_forecast[k]),
                "price_per_kwh": float(self.price[k]),
                "co2_kg_per_kwh": float(self.co2[k]),
                "vehicles_on_road": self.twin.vehicles_on_road,
                "frequency_hz": self.last.frequency_hz if self.last else None,
            }
        )

    def run_for(self, seconds: float) -> int:
        """Advance by at least ``seconds`` of scenario time now (no pacing); returns ticks."""
        n = max(1, int(np.ceil(seconds / (self.tick_steps * self.dt_s))))
        done = 0
        for _ in range(n):
            if self.tick() is None:
                break
            done += 1
        return done

    # ---- faults -----------------------------------------------------------------------
    def inject_fault(self, kind: str, subject: str, magnitude: float = 0.0) -> dict[str, Any]:
        """Inject a fault into the twin or its instruments.

        Parameters
        ----------
        kind : {"coil_efficiency", "segment_meter", "substation_meter", "sensor_stuck", \
"cooling"}
            ``coil_efficiency``: the coil of segment ``subject`` loses ``magnitude`` (share)
            of its efficiency; ``segment_meter`` / ``substation_meter``: the meter of
            ``subject`` under-reports by ``magnitude`` (share); ``sensor_stuck``: the
            temperature sensor of segment ``subject`` repeats its last reading;
            ``cooling``: the coil of segment ``subject`` loses ``magnitude`` (share) of its
            cooling, so its temperature rise over ambient grows by ``1 / (1 - magnitude)``.
        subject : str
            A segment id, or a substation id for ``substation_meter``.
        magnitude : float [-]
        """
        lay = self.layout
        if kind not in FAULT_KINDS:
            raise ServiceError(f"kind {kind!r}: expected one of {', '.join(FAULT_KINDS)}")
        ids = lay.sub_ids if kind == "substation_meter" else lay.seg_ids
        if subject not in ids:
            raise ServiceError(
                f"subject {subject!r}: no such {'substation' if ids is lay.sub_ids else 'segment'}"
            )
        if kind != "sensor_stuck" and not 0.0 < magnitude < 1.0:
            raise ServiceError(f"magnitude {magnitude}: a share between 0 and 1")
        i = ids.index(subject)
        with self._lock:
            if kind == "coil_efficiency":
                lay.seg_efficiency[i] *= 1.0 - magnitude
            elif kind == "segment_meter":
                self.instruments.seg_meter_gain[i] = 1.0 - magnitude
            elif kind == "substation_meter":
                self.instruments.sub_meter_gain[i] = 1.0 - magnitude
            elif kind == "cooling":
                self.instruments.seg_cooling[i] *= 1.0 - magnitude
            else:
                self.instruments.stuck[i] = True
            fault = {"kind": kind, "subject": subject, "magnitude": magnitude,
                     "sim_time": self._clock_iso()}  # fmt: skip
            self.faults.append(fault)
            self._changes += 1
        return fault

    # ---- pacing thread ----------------------------------------------------------------
    def start(self) -> None:
        """Run the loop in a background thread, paced at ``speed``."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._pace, name="ersgrid-live", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the background thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def set_speed(self, speed: float) -> None:
        """Change the clock's speed (scenario seconds per wall second, > 0)."""
        if not (np.isfinite(speed) and speed > 0):
            raise ServiceError("speed: must be a finite number > 0")
        self.speed = float(speed)

    def _pace(self) -> None:
        tick_s = self.tick_steps * self.dt_s
        wall = time.perf_counter()
        owed_s = 0.0
        while not self._stop.is_set() and not self.finished:
            now = time.perf_counter()
            owed_s += (now - wall) * self.speed
            wall = now
            while owed_s >= tick_s and not self._stop.is_set():
                try:
                    if self.tick() is None:
                        break
                except Exception as err:  # a bug or a twin that cannot go on: say so, stop
                    log.exception("the live loop stopped")
                    kind = "" if isinstance(err, ErsgridError) else f"{type(err).__name__}: "
                    self.alarms.raise_alarm(
                        "loop_error", "corridor", f"the twin stopped: {kind}{err}", "critical",
                        "loop",
                    )  # fmt: skip
                    self.finished = True
                    break
                owed_s -= tick_s
                if time.perf_counter() - wall > 0.5:
                    break  # let readers in; the debt carries over
            self.lag_s = max(owed_s, 0.0)
            self._stop.wait(min(0.05, max(tick_s / self.speed / 4, 0.005)))
