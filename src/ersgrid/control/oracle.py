"""``oracle``: the cohort LP solved once with the run's realised traffic — the lower bound.

The oracle plans every realised vehicle as its own cohort (its actual entry time, entry and
exit, speed and battery energy, from ``RunContext.arrivals``) together with the run's
prices, loads and renewables, over the whole run in one solve. No causal strategy can know
this; every other strategy is measured against it. It is the only strategy allowed to read
``RunContext.arrivals``.

The realised run is still the twin's: the plan's budgets go through the same dispatch
(:func:`~ersgrid.control.planning.plan_dispatch`) as ``mpc``'s.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.control.planning import plan_dispatch, plan_inputs, safe_dispatch, storage_value
from ersgrid.errors import InfeasibleSchedule, StrategyError
from ersgrid.optimize.cohorts import drop_idle, exposure, vehicle_cohorts
from ersgrid.optimize.model import CohortLP
from ersgrid.optimize.solver import HighsSession

__all__ = ["Oracle"]

log = logging.getLogger(__name__)


class Oracle(Strategy):
    """Perfect-hindsight plan of the whole run (one solve).

    Parameters
    ----------
    time_limit_s : float [s]
        For the one solve; on failure every step uses the safe schedule.
    """

    name = "oracle"

    def __init__(self, time_limit_s: float = 600.0) -> None:
        self.time_limit_s = float(time_limit_s)
        self.solve_s = 0.0

    def reset(self, context: RunContext) -> None:
        super().reset(context)
        if context.arrivals is None:
            raise StrategyError(
                "the oracle needs the run's realised arrivals (RunContext.arrivals)"
            )
        self.fallbacks = 0
        T = len(context.index)
        cohorts = vehicle_cohorts(context.arrivals, context.step_h)
        cohorts, ex = drop_idle(cohorts, exposure(cohorts, context.layout, T, context.step_h))
        self.model = CohortLP(cohorts, ex, plan_inputs(context, 0, T), storage_value(context))
        self._values: npt.NDArray[np.float64] | None = None
        try:
            solution = HighsSession(self.model, time_limit_s=self.time_limit_s).solve(
                self.model.bounds()
            )
        except InfeasibleSchedule as err:
            log.warning("oracle: falling back to the safe schedule for the whole run: %s", err)
            return
        self._values = solution.values
        self.solve_s = solution.solve_s
        self.planned_objective = solution.objective

    def decide(self, observation: Observation) -> Dispatch:
        if self._values is None:
            self.fallbacks += 1
            return safe_dispatch(self.context)
        return plan_dispatch(self.context, self.model, self._values, observation.step)
