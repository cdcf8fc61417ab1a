"""What the planning strategies (``mpc``, ``oracle``) share: inputs, dispatch, fallback."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ersgrid.control.base import Dispatch, RunContext
from ersgrid.optimize.model import CohortLP, PlanInputs
from ersgrid.optimize.objective import ObjectiveWeights
from ersgrid.optimize.storage import storage_arrays

__all__ = ["HOLD_BACK_TOLERANCE", "plan_dispatch", "plan_inputs", "safe_dispatch"]

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

HOLD_BACK_TOLERANCE = 0.98
"""A plan holds the road back at a substation when its road power is below this share of
what the planned vehicles could take [-]; otherwise the substation runs at its rating and
the twin serves whatever the actual vehicles can take."""


def plan_inputs(context: RunContext, start: int, stop: int) -> PlanInputs:
    """The LP's inputs for run steps ``start .. stop - 1`` from a run's context."""
    en = context.energy
    sl = slice(start, stop)
    return PlanInputs(
        step_h=context.step_h,
        price_per_kwh=np.asarray(context.price_per_kwh[sl], dtype=np.float64),
        co2_kg_per_kwh=np.asarray(context.co2_kg_per_kwh[sl], dtype=np.float64),
        other_load_kw=en.other_load_kw[sl],
        renewable_kw=en.renewable_kw[sl],
        import_limit_kw=en.import_limit_kw[sl],
        export_limit_kw=en.export_limit_kw[sl],
        road_rating_kw=context.layout.sub_rating_kw.astype(np.float64),
        weights=ObjectiveWeights.from_scenario(context.scenario),
        storage=storage_arrays(context.scenario, context.layout),
    )


def safe_dispatch(context: RunContext) -> Dispatch:
    """The fallback schedule: the conventional baseline within ratings, batteries idle."""
    lay = context.layout
    return Dispatch(lay.seg_rating_kw.copy(), lay.sub_rating_kw.copy(), None)


def plan_dispatch(
    context: RunContext, model: CohortLP, values: FloatArray, count: FloatArray, step: int
) -> Dispatch:
    """Turn the plan's model step ``step`` into the twin's limits and battery set-points.

    Substations where the plan takes (nearly) all the planned vehicles could take run at
    their rating, so forecast errors do not starve the actual vehicles; where the plan holds
    back (price, import cap), the substation limit is the planned road power.
    """
    lay = context.layout
    road = model.block(values, "road")[step]
    potential = model.road_potential_kw(count)[step]
    hold = road < HOLD_BACK_TOLERANCE * potential - 1.0
    sub_limit = np.where(hold, np.maximum(road, 0.0), lay.sub_rating_kw)
    storage = model.block(values, "ch")[step] - model.block(values, "dis")[step]
    return Dispatch(lay.seg_rating_kw.copy(), sub_limit.astype(np.float64), storage)
