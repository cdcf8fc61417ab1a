"""``mpc``: receding-horizon planning on the cohort LP with a warm HiGHS.

Every ``replan_steps`` (hourly by default) the strategy re-plans the next ``horizon_steps``
steps with

- a **traffic forecast** of the vehicles that will enter (a :class:`TrafficForecaster`;
  by default the forecasting module's learned P50, issued at each rebuild from data before
  it; ``mpc-expected`` uses :class:`ExpectedProfile`, the scenario's expected traffic
  profile — calendar, weekly and diurnal shape),
- **PV and wind forecasts** (P50) from the forecasting module in place of the realised
  output, when the forecaster gives them (``mpc-expected`` reads the realised output),
- the **measured state** of the vehicles on the road now (count and mean energy of each
  cohort, matched by entry step, entry and exit interchange, class and entry
  state-of-charge bin),
- the stored energy of each battery now, prices, CO2, other loads (their standard profile,
  known in advance) and limits,
- the peak import planned or metered for the steps already run (the demand charge's floor).

Under a demand charge on a corridor with storage, the 24-h horizon is too short: the charge
is owed on the peak of the whole billing period (the run), and a plan that empties the
batteries to cut today's peak meets tomorrow's heavier traffic with none. Every
``guide_every_steps`` the strategy therefore also solves a **guide**: the same model over the
rest of the run, up to ``guide_days``, on coarser cohorts (``guide_soc_bins``,
``guide_entry_window_steps``) and heavy traffic (``guide_quantile``: by default the
learned P90) as far as the forecasts reach (48 h for the learned ones) and beyond on the
traffic model's calendar profile carried to the same level by the learned forecast's ratio
to its median (PV and wind: the forecast's last day repeated). The guide's model is built
every ``guide_block_steps`` as far as the block's last guide reaches; the guides in between
solve windows of it warm from the previous guide's basis. Its peak
becomes the demand-charge floor of the short plans (no value in cutting below the period's
expected peak) and its stored energy at each short plan's horizon end that plan's least
terminal energy (so the batteries keep what later days need); the short plans also follow
the guide's stored energy step by step, less what the batteries lack of it now
(:func:`~ersgrid.control.guide.guide_path`), so the energy it carries is not sold on a
weekday. They also keep a
**reserve** of ``reserve_share`` of the batteries' usable capacity stored at every step,
which the EMS spends in real time through the import target when traffic runs above the
forecast (see :func:`~ersgrid.control.planning.plan_dispatch`). What each of them does to
the peak is measured in docs/journal.md ("Planner").

The model covers a block of ``block_steps`` steps plus the horizon and is built once per
block; within a block each re-plan only changes bounds and right-hand sides, so HiGHS
starts from its previous basis. If a solve fails the step falls back to the safe schedule
(:func:`~ersgrid.control.planning.safe_dispatch`) and counts in ``fallbacks``.

On a corridor with more than :data:`DECOMPOSE_ABOVE_SUBSTATIONS` substations (or with
``decompose=True``; ``mpc-decomposed`` forces it) the model is solved group by group of
``group_substations`` adjacent substations, neighbours sharing ``group_overlap``
(:class:`~ersgrid.optimize.decompose.DecomposedLP`), each group with its own warm HiGHS.

Every setting named here is a field of :class:`~ersgrid.control.mpc_settings.MPCSettings`;
:data:`~ersgrid.control.mpc_settings.MPC_PRESETS` names the presets (``mpc:every-step``, ...).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import weakref
from collections.abc import Mapping
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.control.forecasters import ExpectedProfile, RenewableForecaster, TrafficForecaster
from ersgrid.control.guide import guide_path, guide_traffic
from ersgrid.control.measured import CohortMatcher
from ersgrid.control.mpc_settings import (
    DECOMPOSE_ABOVE_SUBSTATIONS,
    MPC_PRESETS,
    MPCSettings,
    mpc_preset,
)
from ersgrid.control.network import NetworkView
from ersgrid.control.planning import plan_dispatch, plan_inputs, safe_dispatch, storage_value
from ersgrid.errors import InfeasibleSchedule
from ersgrid.forecast.forecaster import LearnedTraffic, split_renewables
from ersgrid.optimize.cohorts import (
    Cohorts,
    coarsen_entry_steps,
    drop_idle,
    exposure,
    forecast_cohorts,
)
from ersgrid.optimize.decompose import (
    DecomposedLP,
    GroupExecutor,
    LocalGroups,
    substation_groups,
)
from ersgrid.optimize.model import CohortLP, PlanInputs
from ersgrid.optimize.request import PlanRequest
from ersgrid.optimize.solver import HighsSession
from ersgrid.optimize.storage import storage_arrays
from ersgrid.scenario.schema import VEHICLE_CLASSES

__all__ = [
    "COLD_TIME_LIMIT_S", "DECOMPOSE_ABOVE_SUBSTATIONS", "MPC", "DecomposedMPC", "ExpectedMPC",
    "ExpectedProfile", "MPCSettings", "TrafficForecaster",
]  # fmt: skip

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

COLD_TIME_LIMIT_S = 300.0
"""Time limit of a group's first (cold) solve after a rebuild [s]: on xinjiang-g30 a group's
cold solve takes 30–70 s on a shared 2-core machine; its warm re-plans keep ``time_limit_s``."""


@dataclasses.dataclass(frozen=True)
class _PlanState:
    """What the plan in force was made from: its model step, the cohorts' counts [veh] and
    effective entry energies [kWh] it planned on, and its demand-charge floor [kW]."""

    rel: int
    count: FloatArray
    energy_kwh: FloatArray
    floor_kw: float


class MPC(Strategy):
    """Receding-horizon control on the cohort LP.

    Parameters
    ----------
    settings : MPCSettings or str, optional
        The settings, or the name of a preset of
        :data:`~ersgrid.control.mpc_settings.MPC_PRESETS`; default: ``default`` on a
        corridor of up to :data:`DECOMPOSE_ABOVE_SUBSTATIONS` substations, ``large-corridor``
        above (where ``mpc`` decomposes by itself).
    forecaster : TrafficForecaster, optional
        Default :class:`~ersgrid.forecast.forecaster.LearnedTraffic`: learned P50 traffic
        and, since it also forecasts renewables, P50 PV and wind in place of the realised
        output. :class:`ExpectedProfile` plans on the traffic model's expected profile and on
        realised renewables (``mpc-expected``). The forecasts a plan used are kept in
        :attr:`forecasts` (the run stores them in its time series).

    Attributes
    ----------
    settings : MPCSettings
        The settings of the run (after :meth:`reset`; before, the ones given, if any).
    solve_s : list of float [s]
        HiGHS time of each re-plan (summed over the groups when decomposed).
    sweeps : list of int
        Sweeps of each decomposed re-plan (empty when monolithic).
    groups_per_plan : int
        Substation groups of the decomposed model (0 when monolithic).
    skipped : int
        Group solves that timed out in a later sweep of a decomposed re-plan; the group kept
        its plan of the earlier sweep (no fallback).
    replans_skipped : int
        Due re-plans skipped because the measurements matched the plan in force
        (``replan_tolerance``).
    """

    name = "mpc"

    def __init__(
        self,
        settings: MPCSettings | str | None = None,
        forecaster: TrafficForecaster | None = None,
    ) -> None:
        self._given = mpc_preset(settings) if isinstance(settings, str) else settings
        self._pool: GroupExecutor | None = None  # Dask workers, kept from run to run
        if self._given is not None:
            self.settings = self._given
        self.sweeps: list[int] = []
        self.skipped = 0
        self.groups_per_plan = 0
        # LearnedTraffic takes any run-like context; RunContext is one
        self.forecaster: TrafficForecaster = (
            forecaster if forecaster is not None else cast(TrafficForecaster, LearnedTraffic())
        )
        self.solve_s: list[float] = []

    def settings_for(self, n_substations: int) -> MPCSettings:
        """The settings of a run on a corridor of ``n_substations``: the ones given, else
        the ``default`` preset up to :data:`DECOMPOSE_ABOVE_SUBSTATIONS` substations and
        ``large-corridor`` above."""
        if self._given is not None:
            return self._given
        large = n_substations > DECOMPOSE_ABOVE_SUBSTATIONS
        return MPC_PRESETS["large-corridor" if large else "default"]

    def reset(self, context: RunContext) -> None:
        super().reset(context)
        self.settings = self.settings_for(context.layout.n_substations)
        self._values: FloatArray | None = None
        self._planned_at = -1
        self._plan: _PlanState | None = None
        self.replans_skipped = 0
        self.fallbacks = 0
        self.solve_s = []
        self.sweeps = []
        self.skipped = 0
        self._origin = -1
        self._peak_kw = context.scenario.tariff.demand_target_kw or 0.0  # owed already
        self._guide_peak_kw = 0.0
        self._guide_soc: FloatArray | None = None
        self._guided_at = -1
        self.guide_s: list[float] = []
        self._guide_model: CohortLP | None = None
        self._guide_session: HighsSession | None = None
        self._guide_origin = -1
        self._session: HighsSession | None = None
        self._groups: DecomposedLP | None = None
        self._storage = storage_arrays(context.scenario, context.layout)
        self._log: dict[str, FloatArray] = {}
        self._issued = np.full(len(context.index), -1, dtype=np.int64)
        self._floor = np.full(len(context.index), np.nan)
        sc = context.scenario
        longest_h = max(
            context.layout.length_m / (spec.speed.mean_kmh * 0.6 / 3.6) / 3600.0
            for spec in sc.vehicles.values()
        )
        self._lookback = math.ceil(longest_h / context.step_h) + 1
        s = self.settings
        self._matcher = CohortMatcher(context, s.soc_bins, s.entry_window_steps, self._lookback)
        self._network = NetworkView(context) if s.see_network and context.scenario.grid else None
        self._held: npt.NDArray[np.bool_] | None = None
        self._window: tuple[int, int] | None = None
        self.relinearised = 0
        self.network_slack = np.full((len(context.index), 0), np.nan)
        if self._network is not None:
            self.network_slack = np.full((len(context.index), len(self._network.labels)), np.nan)

    def _rebuild(self, step: int) -> None:
        ctx = self.context
        # free the old block's model, plan and solver instances before building the new ones
        # (peak memory)
        self._session = None
        self._groups = None
        self._values = None
        self.__dict__.pop("_model", None)
        T = len(ctx.index)
        stop = min(step + self.settings.block_steps + self.settings.horizon_steps, T)
        self._model, volume, coh = self._build(step, stop, record=True, network=True)
        self._record(step, stop, {
            f"traffic_{name}_veh": volume.iloc[self._lookback :][[f"{name}_A", f"{name}_B"]]
            .sum(axis=1).to_numpy()
            for name in VEHICLE_CLASSES if f"{name}_A" in volume.columns
        })  # fmt: skip
        self._values = None  # the last plan belongs to the old model
        self._held = None
        self._window = None
        lay = ctx.layout
        split = self._decomposed()
        if split:
            groups = substation_groups(
                lay.sub_position_km, self.settings.group_substations, self.settings.group_overlap
            )
            self._groups = DecomposedLP(
                self._model, groups, self.settings.time_limit_s, self.settings.max_sweeps,
                cold_time_limit_s=COLD_TIME_LIMIT_S,
                scheme="jacobi" if self.settings.workers else "gauss-seidel",
                executor=self._executor(),
            )  # fmt: skip
            self.groups_per_plan = len(groups)
            self._session = None
        else:
            self._session = HighsSession(self._model, time_limit_s=self.settings.time_limit_s,
                                         compact=self.settings.compact_lp)  # fmt: skip
            self._groups = None
        self._origin = step
        self._stop = stop
        self._matcher.index(coh)

    def _executor(self) -> GroupExecutor:
        """Where the groups solve: in-process, or on the Dask workers (started at the first
        decomposed build)."""
        if not self.settings.workers:
            return LocalGroups(resident=self.settings.keep_group_solvers)
        if self._pool is None:
            from ersgrid.optimize.parallel import DaskGroups  # Dask only when asked for

            pool = DaskGroups(self.settings.workers, resident=self.settings.keep_group_solvers)
            weakref.finalize(self, pool.close)
            self._pool = pool
        return self._pool

    def _decomposed(self) -> bool:
        return self.settings.decomposed(self.context.layout.n_substations)

    def _build(
        self,
        step: int,
        stop: int,
        record: bool,
        forecaster: TrafficForecaster | None = None,
        reach: int | None = None,
        network: bool = False,
        guide: bool = False,
    ) -> tuple[CohortLP, pd.DataFrame, Cohorts]:
        """The model of run steps ``step .. stop - 1`` on the forecasts issued at ``step``
        (kept in :attr:`forecasts` when ``record``), its traffic forecast and cohorts; with
        ``network``, and a network to see, its rows ``network`` linearised at the draw
        without the road (each plan re-linearises their right-hand sides); with ``guide``,
        on the guide's cohorts (``guide_soc_bins``, ``guide_entry_window_steps``)."""
        ctx = self.context
        s = self.settings
        n_bins, window = s.soc_bins, s.entry_window_steps
        if guide:
            n_bins = s.guide_soc_bins or n_bins
            window = s.guide_entry_window_steps or window
        traffic = self.forecaster if forecaster is None else forecaster
        volume = traffic.forecast(ctx, step, step - self._lookback, stop)
        coh = forecast_cohorts(
            ctx.scenario, ctx.layout, volume, ctx.step_h, first_step=-self._lookback,
            n_bins=n_bins,
        )  # fmt: skip
        # vehicles of a past step still on the road now are the ones that entered late in it:
        # model them as entering at the end of their step, not in its middle
        past = coh.entry_step < 0
        late_h = (coh.entry_step + 1) * ctx.step_h - 1e-6
        coh = dataclasses.replace(coh, entry_h=np.where(past, late_h, coh.entry_h))
        coh, ex = drop_idle(coh, exposure(coh, ctx.layout, stop - step, ctx.step_h))
        coh, ex = coarsen_entry_steps(coh, ex, window, offset=step)
        inputs = plan_inputs(ctx, step, stop)
        if network and self._network is not None:
            inputs = dataclasses.replace(inputs, network=self._network.rows(step, stop))
        renewables = getattr(self.forecaster, "renewables", None)
        if renewables is not None:
            inputs = self._forecast_renewables(
                inputs, cast(RenewableForecaster, self.forecaster), step, stop, record, reach
            )
        return CohortLP(coh, ex, inputs, storage_value(ctx)), volume, coh

    def _guide(self, observation: Observation) -> None:
        """Under a demand charge: re-solve the guide plan (module docstring) when it is due."""
        ctx = self.context
        k = observation.step
        if self._guided_at >= 0 and k - self._guided_at < self.settings.guide_every_steps:
            return
        self._guided_at = k
        T = len(ctx.index)
        steps = round(self.settings.guide_days * 24.0 / ctx.step_h)
        stop = min(T, k + steps)
        if stop - k <= self.settings.horizon_steps:  # the short plans see as far
            self._guide_soc = None
            self._guide_peak_kw = 0.0
            return
        block = self.settings.guide_block_steps
        due = k >= self._guide_origin + block
        if self._guide_session is None or self._guide_model is None or due:
            self._guide_session = None  # free the old instance before the new model
            self._guide_model = None
            traffic: TrafficForecaster = self.forecaster
            reach = None
            if isinstance(traffic, LearnedTraffic):
                # beyond the learned models' reach: the traffic model's calendar profile,
                # carried to the guide's quantile by the learned forecast's ratio to its median
                reach = traffic.max_lead_steps(ctx)
                traffic = guide_traffic(traffic, self.settings.guide_quantile, reach)
            # one model for the guides of the next block_steps, each solved as a window of it
            end = min(T, stop + block - 1)
            self._guide_model, _, _ = self._build(k, end, record=False, forecaster=traffic,
                                                  reach=reach, guide=True)  # fmt: skip
            self._guide_session = HighsSession(self._guide_model, time_limit_s=COLD_TIME_LIMIT_S)
            self._guide_origin = k
        model, k0 = self._guide_model, self._guide_origin
        stop = min(stop, k0 + model.inputs.n_steps)
        request = PlanRequest(window=(k - k0, stop - k0), stored_kwh=self._stored(observation),
                              peak_floor_kw=self._peak_kw)  # fmt: skip
        try:
            solution = self._guide_session.solve(request)
        except InfeasibleSchedule as err:
            log.warning("mpc step %d: no guide plan, the short plans go on alone: %s", k, err)
            if not err.timed_out:
                self._guide_session = None
            self._guide_soc = None
            self._guide_peak_kw = 0.0
            return
        self.guide_s.append(solution.solve_s)
        self._guide_peak_kw = float(solution.values[model.offsets["peak"]])
        soc = np.full((T, ctx.layout.n_substations), np.nan)
        soc[k:stop] = model.block(solution.values, "soc")[k - k0 : stop - k0]
        self._guide_soc = soc

    def _terminal(self, end: int) -> FloatArray | None:
        """Least stored energy at the end of run step ``end`` (the guide's)."""
        if self._guide_soc is None or end >= len(self._guide_soc):
            return None
        guide = self._guide_soc[end]
        if not np.all(np.isfinite(guide)):
            return None
        return np.asarray(guide, dtype=np.float64)

    def _path(self, step: int, stored: FloatArray) -> FloatArray | None:
        """Least stored energy at the end of each step of the model
        (:func:`~ersgrid.control.guide.guide_path`)."""
        if not self.settings.follow_guide or self._guide_soc is None:
            return None
        return guide_path(self._guide_soc, self._origin, self._model.inputs.n_steps, step,
                          stored)  # fmt: skip

    def _reserve(self) -> FloatArray | None:
        """Stored energy each short plan keeps at every step under a demand charge."""
        if (
            self.settings.reserve_share <= 0.0
            or self.context.scenario.tariff.demand_charge_per_kw <= 0.0
        ):
            return None
        st = self._storage
        return np.asarray(
            st.energy_min_kwh
            + self.settings.reserve_share * (st.energy_max_kwh - st.energy_min_kwh),
            dtype=np.float64,
        )

    def _forecast_renewables(
        self,
        inputs: PlanInputs,
        forecaster: RenewableForecaster,
        step: int,
        stop: int,
        record: bool = True,
        reach: int | None = None,
    ) -> PlanInputs:
        """The plan's inputs with P50 PV and wind forecasts issued at ``step`` in place of the
        realised output (the connection's renewables are exactly PV plus wind); past ``reach``
        steps the forecast's last day repeats."""
        ctx = self.context
        n = stop - step
        quantiles = forecaster.renewables(
            ctx, step, stop if reach is None else step + min(n, reach)
        )
        if not quantiles:
            return inputs
        day = round(24.0 / ctx.step_h)
        for kind, q in quantiles.items():
            if len(q) < n:
                last = q.iloc[-day:]
                repeats = [last] * math.ceil((n - len(q)) / len(last))
                quantiles[kind] = pd.concat([q, *repeats]).iloc[:n]
        renewable = np.zeros_like(np.asarray(inputs.renewable_kw, dtype=np.float64))
        for kind, q in quantiles.items():
            p50 = q["p50"].to_numpy(dtype=np.float64)
            renewable += split_renewables(ctx.scenario, ctx.layout.sub_ids, kind, p50)
            if not record:
                continue
            self._record(step, stop, {
                f"{kind}_{col}_kw": q[col].to_numpy(dtype=np.float64) for col in q.columns
            })  # fmt: skip
        return dataclasses.replace(inputs, renewable_kw=renewable)

    def _record(self, step: int, stop: int, values: dict[str, FloatArray]) -> None:
        """Keep the forecasts of a plan issued at ``step`` for run steps ``step .. stop - 1``;
        a later plan overwrites the steps it covers, so each step keeps the forecast of the plan
        in force when it ran."""
        n = len(self.context.index)
        for key, value in values.items():
            row = self._log.setdefault(key, np.full(n, np.nan))
            row[step:stop] = value[: stop - step]
        self._issued[step:stop] = step

    @property
    def network_limits(self) -> tuple[str, ...]:
        """The watched elements of the network rows (:mod:`ersgrid.control.network`)."""
        return () if self._network is None else self._network.labels

    @property
    def network_slack_steps(self) -> int:
        """(step, element) pairs planned over a network limit (penalised slack) [-]."""
        return int((np.nan_to_num(self.network_slack, nan=0.0) > 1e-9).sum())

    @property
    def notes(self) -> tuple[str, ...]:
        """What the forecaster says of the history it learnt from (see
        :class:`~ersgrid.forecast.forecaster.LearnedTraffic`)."""
        return tuple(getattr(self.forecaster, "notes", ()))

    @property
    def forecasts(self) -> pd.DataFrame | None:
        """The forecasts the plans used, one row per run step [kW, veh/step]: columns
        ``forecast_<pv|wind>_<p10|p50|p90>_kw``, ``forecast_traffic_<class>_veh`` (P50 or the
        expected profile, all vehicles), ``forecast_issued`` (issue time) and, under a demand
        charge, ``plan_peak_floor_kw`` (the corridor import the plan in force took as already
        owed: the metered or planned peak so far, or the guide's peak); None before a plan."""
        if not self._log:
            return None
        ctx = self.context
        issued = pd.Series(ctx.index[np.maximum(self._issued, 0)], index=ctx.index).where(
            self._issued >= 0
        )
        frame = {f"forecast_{key}": value for key, value in self._log.items()}
        if np.isfinite(self._floor).any():  # under a demand charge
            frame["plan_peak_floor_kw"] = pd.Series(self._floor).ffill().to_numpy()
        return pd.DataFrame(frame, index=ctx.index).assign(forecast_issued=issued)

    def decide(self, observation: Observation) -> Dispatch:
        k = observation.step
        if (
            self._values is not None
            and k < self._origin + self.settings.block_steps
            and k - self._planned_at < self.settings.replan_steps
        ):
            return self._dispatch(self._values, k - self._origin)
        if observation.import_kw is not None:  # the metered peak is owed too
            self._peak_kw = max(self._peak_kw, float(np.sum(observation.import_kw)))
        try:
            w = self.context.scenario.tariff
            plans_guide = self.settings.guide_days > 0 and not self._decomposed()
            if w.demand_charge_per_kw > 0.0 and self._storage.present and plans_guide:
                self._guide(observation)
            built = self._session is not None or self._groups is not None
            if not built or k >= self._origin + self.settings.block_steps:
                self._rebuild(k)
            rel = k - self._origin
            count, energy = self._matcher.live(self._model, observation.vehicles, rel,
                                                self._origin)  # fmt: skip
            stored = self._stored(observation)
            window = (rel, min(rel + self.settings.horizon_steps, self._stop - self._origin))
            floor = max(self._peak_kw, self._guide_peak_kw)
            if self._values is not None and self._on_plan(k, rel, count, energy, stored, floor):
                self.replans_skipped += 1
                return self._dispatch(self._values, rel)
            if w.demand_charge_per_kw > 0.0:  # the floor is what the plan holds then
                self._floor[k] = floor
            request = PlanRequest(
                window=window, count=count, energy_kwh=energy, stored_kwh=stored,
                terminal_kwh=self._terminal(self._origin + window[1] - 1),
                reserve_kwh=self._reserve(), path_kwh=self._path(k, stored), peak_floor_kw=floor,
                network_base=self._network_base(),
            )  # fmt: skip
            try:
                values, solve_s, request = self._solve_planned(request)
            except InfeasibleSchedule as err:
                guided = request.terminal_kwh is not None or request.path_kwh is not None
                if not guided or err.timed_out:
                    raise
                # e.g. an import cap leaves no room to refill: plan without the guide
                log.info("mpc step %d: the guide's stored energy is out of reach", k)
                values, solve_s, request = self._solve_planned(request.without_guide())
        except InfeasibleSchedule as err:
            self.fallbacks += 1
            log.warning("mpc step %d: falling back to the safe schedule: %s", k, err)
            if not err.timed_out:  # after a time-out the next step goes on from its basis
                self._session = None
                self._groups = None
            return safe_dispatch(self.context)
        self.solve_s.append(solve_s)
        self._values, self._planned_at = values, k
        self._plan = _PlanState(rel, count, energy, floor)
        return self._dispatch(values, rel)

    def end_state(self, observation: Observation) -> dict[str, FloatArray]:
        """The corridor peak owed so far [kW] (``peak_kw``: metered or planned), so that a run
        continuing this one plans from the peak of the runs before it: chained runs are
        billed as one, on their highest peak (:func:`~ersgrid.run.kpis.combine_kpis`)."""
        peak = self._peak_kw
        if observation.import_kw is not None:
            peak = max(peak, float(np.sum(observation.import_kw)))
        return {"peak_kw": np.array([peak])}

    def resume(self, state: Mapping[str, FloatArray]) -> None:
        """Start from the peak owed by the run this one continues (:meth:`end_state`)."""
        if "peak_kw" in state:
            carried = float(np.asarray(state["peak_kw"], dtype=np.float64).reshape(-1)[0])
            self._peak_kw = max(self._peak_kw, carried)

    def _on_plan(
        self, k: int, rel: int, count: FloatArray, energy: FloatArray, stored: FloatArray,
        floor: float,
    ) -> bool:  # fmt: skip
        """Whether the measurements at run step ``k`` (model step ``rel``) match the plan in
        force within ``replan_tolerance`` (see :class:`MPCSettings`), so its re-plan may be
        skipped."""
        s, plan = self.settings, self._plan
        tol = s.replan_tolerance
        if tol <= 0.0 or self._values is None or plan is None or self._guided_at == k:
            return False
        if rel <= plan.rel or k - self._planned_at >= s.replan_at_least_steps:
            return False
        if floor > plan.floor_kw + tol * max(plan.floor_kw, 1.0):
            return False
        st = self._storage
        planned = self._model.block(self._values, "soc")[rel - 1]
        usable = st.energy_max_kwh - st.energy_min_kwh
        if np.any(np.abs(stored - planned) > tol * usable + 1e-6):
            return False
        coh = self._model.cohorts
        new = (coh.entry_step >= plan.rel) & (coh.entry_step < rel)
        n_plan, n_now = float(plan.count[new].sum()), float(count[new].sum())
        e_plan = float((plan.count * plan.energy_kwh)[new].sum())
        e_now = float((count * energy)[new].sum())
        return abs(n_now - n_plan) <= tol * max(n_plan, 1.0) and abs(e_now - e_plan) <= tol * max(
            abs(e_plan), 1.0
        )

    def _network_base(self) -> FloatArray | None:
        """The request's ``network_base``, linearised at the draw of the plan in force (the
        draw without the road where it has none)."""
        if self._network is None:
            return None
        draw = self._network.planned_draw(self._model, self._values, self._origin, self._window)
        return self._network.base(self._model, self._origin, draw)

    def _solve_planned(self, request: PlanRequest) -> tuple[FloatArray, float, PlanRequest]:
        """:meth:`_solve`, and on a network once more re-linearised at the plan's draw when
        the power flow there leaves the linearisation in the steps dispatched before the
        next re-plan; the plan, its HiGHS time [s] and the request it solved."""
        values, solve_s = self._solve(request)
        if self._network is not None:
            again = self._network.rebased(self._model, request, values, self._origin,
                                          checked_steps=self.settings.replan_steps)  # fmt: skip
            if again is not None:
                self.relinearised += 1
                request = again
                values, more_s = self._solve(request)
                solve_s += more_s
            self._held = self._model.network_held(values, request)
            k0, k1 = (
                request.window if request.window is not None else (0, self._model.inputs.n_steps)
            )
            slack = self._model.network_slack(values)[k0:k1]
            start = self._origin + k0
            self.network_slack[start : start + len(slack)] = slack
        self._window = request.window
        return values, solve_s, request

    def _solve(self, request: PlanRequest) -> tuple[FloatArray, float]:
        """Solve ``request`` on the block's model, by groups when decomposed; its column
        values and HiGHS time [s]."""
        if self._groups is not None:
            # the last plan of this model, clipped to the new state, starts the sweeps
            split = self._groups.solve(request, start=self._values)
            self.sweeps.append(split.sweeps)
            self.skipped += split.skipped
            return split.values, split.solve_s
        assert self._session is not None
        solution = self._session.solve(request)
        return solution.values, solution.solve_s

    def _dispatch(self, values: FloatArray, rel: int) -> Dispatch:
        # the demand charge is owed up to the peak already planned for the steps run so far
        planned = float(self._model.block(values, "imp")[rel].sum())
        self._peak_kw = max(self._peak_kw, planned)
        held = None if self._held is None else self._held[rel]
        return plan_dispatch(self.context, self._model, values, rel, held)

    def _stored(self, observation: Observation) -> FloatArray:
        if observation.storage_kwh is None:
            return self._storage.initial_kwh.copy()
        return np.asarray(observation.storage_kwh, dtype=np.float64)


class DecomposedMPC(MPC):
    """``mpc`` solved by substation groups on any corridor (its settings with
    ``decompose=True``; ``default`` unless given); ``mpc`` picks this itself above
    :data:`DECOMPOSE_ABOVE_SUBSTATIONS` substations."""

    name = "mpc-decomposed"

    def __init__(self, settings: MPCSettings | str | None = None) -> None:
        given = mpc_preset(settings) if isinstance(settings, str) else settings
        super().__init__(dataclasses.replace(given or MPC_PRESETS["default"], decompose=True))


class ExpectedMPC(MPC):
    """``mpc`` as it was before the forecasting module: it plans on the traffic model's
    expected profile (:class:`ExpectedProfile`) and on the realised PV and wind output. Kept
    to measure what the forecasts are worth (``docs/forecasting.md``)."""

    name = "mpc-expected"

    def __init__(self, settings: MPCSettings | str | None = None) -> None:
        super().__init__(settings, forecaster=ExpectedProfile())
