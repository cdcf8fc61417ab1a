"""``oracle``: the cohort LP solved once with the run's realised traffic — the lower bound.

The oracle plans every realised vehicle as its own cohort (its actual entry time, entry and
exit, speed and battery energy, from ``RunContext.arrivals``; the vehicles already on the
road at the first step where they are then, with the energy they have) together with the
run's prices, loads and renewables, over the whole run in one solve, at its first step.
Its objective counts the unmet energy of the vehicles that cannot charge anywhere, so that
the planned objective is the run's. No causal strategy can know
this; every other strategy is measured against it. It is the only strategy allowed to read
``RunContext.arrivals``.

The realised run is still the twin's: the plan's budgets go through the same dispatch
(:func:`~ersgrid.control.planning.plan_dispatch`) as ``mpc``'s. Like ``mpc``, the oracle
closes the loop: every ``replan_steps`` steps it re-solves the rest of the run (warm, only
bounds change) from the measured state — each vehicle on the road with its metered energy,
the batteries' stored energy and the peak import already planned — so that the twin's
deviations from the plan (the 1 s sharing inside a 15-min step, which V2G vehicle returns
power) do not accumulate over the run.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.control.network import NetworkView
from ersgrid.control.planning import plan_dispatch, plan_inputs, safe_dispatch, storage_value
from ersgrid.errors import InfeasibleSchedule, StrategyError
from ersgrid.optimize.cohorts import (
    Cohorts,
    Exposure,
    concat_cohorts,
    drop_idle,
    exposure,
    idle_shortfall_kwh,
    road_cohorts,
    vehicle_cohorts,
)
from ersgrid.optimize.model import CohortLP
from ersgrid.optimize.network import NetworkRows
from ersgrid.optimize.request import PlanRequest
from ersgrid.optimize.solver import HighsSession, Solution
from ersgrid.optimize.storage import StorageArrays

__all__ = ["Oracle", "hindsight_cohorts", "hindsight_model"]

log = logging.getLogger(__name__)


def hindsight_cohorts(
    context: RunContext, vehicles: pd.DataFrame | None = None
) -> tuple[Cohorts, Exposure, npt.NDArray[np.int64], float]:
    """The run's realised vehicles as one cohort each: those on the road at the start
    (``vehicles``, the twin's state then: :func:`~ersgrid.optimize.cohorts.road_cohorts`)
    and the arrivals after it (``context.arrivals``); those that never reach an energised
    segment dropped. Returns the kept cohorts, their exposure over the run's steps, the
    vehicle id of each, and what the dropped ones that leave within the run fall short of
    their exit targets [kWh] (:func:`~ersgrid.optimize.cohorts.idle_shortfall_kwh`).

    Raises
    ------
    StrategyError
        If the context has no realised arrivals.
    """
    if context.arrivals is None:
        raise StrategyError("the oracle needs the run's realised arrivals (RunContext.arrivals)")
    T = len(context.index)
    cohorts = vehicle_cohorts(context.arrivals, context.step_h)
    all_ids = np.asarray(context.arrivals.vehicle_id, dtype=np.int64)
    if vehicles is not None and len(vehicles):
        cohorts = concat_cohorts([road_cohorts(vehicles), cohorts])
        all_ids = np.concatenate([vehicles["vehicle_id"].to_numpy().astype(np.int64), all_ids])
    expo = exposure(cohorts, context.layout, T, context.step_h)
    fixed_kwh = idle_shortfall_kwh(cohorts, expo, T, context.step_h)
    ids = all_ids[np.unique(expo.cohort)]
    kept, ex = drop_idle(cohorts, expo)
    return kept, ex, ids, fixed_kwh


def hindsight_model(
    context: RunContext,
    storage: StorageArrays | None = None,
    renewable_kw: npt.NDArray[np.float64] | None = None,
    network: NetworkRows | None = None,
    vehicles: pd.DataFrame | None = None,
) -> CohortLP:
    """The oracle's perfect-hindsight LP of a run, optionally with other batteries than the
    scenario's (``storage``), other renewables at the connections (``renewable_kw`` [kW],
    shape (steps, substations)), the network rows (``network``, e.g.
    :meth:`NetworkView.rows <ersgrid.control.network.NetworkView.rows>`; None: none) and the
    vehicles on the road at the start (``vehicles``, the twin's state after its warm-up): the
    model a study solves per day (e.g. :mod:`ersgrid.study.sizing`). Its objective counts the
    unmet energy of the vehicles that cannot charge (``fixed_shortfall_kwh``)."""
    cohorts, ex, _, fixed_kwh = hindsight_cohorts(context, vehicles)
    inputs = plan_inputs(context, 0, len(context.index))
    if storage is not None:
        inputs = dataclasses.replace(inputs, storage=storage)
    if renewable_kw is not None:
        inputs = dataclasses.replace(inputs, renewable_kw=renewable_kw)
    if network is not None:
        inputs = dataclasses.replace(inputs, network=network)
    return CohortLP(cohorts, ex, inputs, storage_value(context), fixed_shortfall_kwh=fixed_kwh)


class Oracle(Strategy):
    """Perfect-hindsight plan of the whole run (one solve).

    Parameters
    ----------
    time_limit_s : float [s]
        For the first solve; on failure every step uses the safe schedule.
    replan_steps : int
        Steps between closed-loop re-solves (0: plan once, open loop).
    see_network : bool
        On a scenario with a grid section, plan within the network's linearised voltage
        and loading limits (:mod:`ersgrid.control.network`).

    Attributes
    ----------
    network_slack : ndarray [p.u. or %], shape (steps, elements)
        The last plan's excess over each watched element's limits (what its power could not
        avoid; empty without a network).
    relinearised : int
        Solves repeated at a new linearisation.
    """

    name = "oracle"

    def __init__(
        self, time_limit_s: float = 600.0, replan_steps: int = 4, see_network: bool = True
    ) -> None:
        self.time_limit_s = float(time_limit_s)
        self.replan_steps = int(replan_steps)
        self.see_network = bool(see_network)
        self.solve_s = 0.0

    def reset(self, context: RunContext) -> None:
        super().reset(context)
        if context.arrivals is None:
            raise StrategyError(
                "the oracle needs the run's realised arrivals (RunContext.arrivals)"
            )
        self.fallbacks = 0
        self.solve_s = 0.0
        self.relinearised = 0
        self.network_slack = np.zeros((0, 0))
        self.planned_objective = float("nan")
        self._values: npt.NDArray[np.float64] | None = None
        self._held: npt.NDArray[np.bool_] | None = None
        self._peak_kw = context.scenario.tariff.demand_target_kw or 0.0  # owed already
        self._started = False
        self._network = NetworkView(context) if self.see_network and context.scenario.grid else None

    def _start(self, observation: Observation) -> None:
        """Build the run's LP with the vehicles on the road at the first step (the twin's,
        after its warm-up or from the run this one continues) and every later arrival, and
        solve it."""
        self._started = True
        context = self.context
        T = len(context.index)
        cohorts, ex, ids, fixed_kwh = hindsight_cohorts(context, observation.vehicles)
        # the vehicle behind each kept cohort, sorted for the measured-state lookup
        self._id_order = np.argsort(ids)
        self._ids_sorted = ids[self._id_order]
        inputs = plan_inputs(context, 0, T)
        if self._network is not None:
            inputs = dataclasses.replace(inputs, network=self._network.rows(0, T))
        self.model = CohortLP(
            cohorts, ex, inputs, storage_value(context), fixed_shortfall_kwh=fixed_kwh
        )
        self._session = HighsSession(self.model, time_limit_s=self.time_limit_s)
        stored = observation.storage_kwh
        request = PlanRequest(
            stored_kwh=None if stored is None else np.asarray(stored, dtype=np.float64),
            peak_floor_kw=self._peak_kw,
        )
        if self._network is not None:
            request = dataclasses.replace(
                request, network_base=self._network.base(self.model, 0, self._network.site_kw)
            )
        try:
            solution = self._solve(request)
        except InfeasibleSchedule as err:
            log.warning("oracle: falling back to the safe schedule for the whole run: %s", err)
            return
        self._values = solution.values
        self.planned_objective = solution.objective

    def _solve(self, request: PlanRequest) -> Solution:
        """Solve ``request``; on a network, once more re-linearised at the plan's draw when
        the power flow there leaves the linearisation
        (:meth:`~ersgrid.control.network.NetworkView.rebased`)."""
        solution = self._session.solve(request)
        self.solve_s += solution.solve_s
        if self._network is not None:
            again = self._network.rebased(self.model, request, solution.values, 0)
            if again is not None:
                self.relinearised += 1
                request = again
                solution = self._session.solve(request)
                self.solve_s += solution.solve_s
        self._held = self.model.network_held(solution.values, request)
        self.network_slack = self.model.network_slack(solution.values)
        return solution

    def _replan(self, observation: Observation) -> None:
        """Re-solve steps ``k ..`` from the measured vehicles and batteries."""
        k = observation.step
        c = self.model.cohorts
        count = np.where(c.entry_step < k, 0.0, c.count)
        energy = c.energy_kwh.copy()
        veh = observation.vehicles
        if len(veh) and len(self._ids_sorted):
            vid = veh["vehicle_id"].to_numpy().astype(np.int64)
            pos = np.clip(np.searchsorted(self._ids_sorted, vid), 0, len(self._ids_sorted) - 1)
            found = self._ids_sorted[pos] == vid
            idx = self._id_order[pos[found]]
            count[idx] = 1.0
            energy[idx] = (
                veh["energy_kwh"].to_numpy()[found] + self.model.consumed_before_kwh(k)[idx]
            )
        stored = (
            None
            if observation.storage_kwh is None
            else np.asarray(observation.storage_kwh, dtype=np.float64)
        )
        window = (k, self.model.inputs.n_steps)
        base = None
        if self._network is not None:
            draw = self._network.planned_draw(self.model, self._values, 0, window)
            base = self._network.base(self.model, 0, draw)
        request = PlanRequest(
            window=window, count=count, energy_kwh=energy, stored_kwh=stored,
            peak_floor_kw=self._peak_kw, network_base=base,
        )  # fmt: skip
        try:
            solution = self._solve(request)
        except InfeasibleSchedule as err:  # keep the last plan
            log.warning("oracle step %d: re-plan failed, keeping the last plan: %s", k, err)
            return
        self._values = solution.values

    @property
    def network_limits(self) -> tuple[str, ...]:
        """The watched elements of the network rows (:mod:`ersgrid.control.network`)."""
        return () if self._network is None else self._network.labels

    @property
    def network_slack_steps(self) -> int:
        """(step, element) pairs planned over a network limit (penalised slack) [-]."""
        return int((np.nan_to_num(self.network_slack, nan=0.0) > 1e-9).sum())

    def decide(self, observation: Observation) -> Dispatch:
        if not self._started:
            self._start(observation)
        if self._values is None:
            self.fallbacks += 1
            return safe_dispatch(self.context)
        k = observation.step
        if self.replan_steps > 0 and k > 0 and k % self.replan_steps == 0:
            self._replan(observation)
        planned = float(self.model.block(self._values, "imp")[k].sum())
        self._peak_kw = max(self._peak_kw, planned)
        held = None if self._held is None else self._held[k]
        return plan_dispatch(self.context, self.model, self._values, k, held, hold_peak=True)
