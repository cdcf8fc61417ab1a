"""What the planning strategies (``mpc``, ``oracle``) share: inputs, dispatch, fallback."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt

from ersgrid.control.base import Dispatch, RunContext
from ersgrid.optimize.model import CohortLP, PlanInputs
from ersgrid.optimize.objective import ObjectiveWeights, refill_cost_per_kwh
from ersgrid.optimize.storage import storage_arrays

__all__ = ["STORE_PREFERENCE", "plan_dispatch", "plan_inputs", "safe_dispatch", "storage_value"]

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger(__name__)


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


STORE_PREFERENCE = 1e-4
"""Relative premium on the value of stored energy over its refill cost [-]: when filling a
battery at the cheapest price is worth exactly what the energy will be valued at, fill it —
it is the hedge against a load above forecast."""


def storage_value(context: RunContext) -> float:
    """Value of a kWh left in the batteries at a window's end [currency/kWh]: the KPIs'
    refill cost with a small premium (:data:`STORE_PREFERENCE`)."""
    refill = refill_cost_per_kwh(context.scenario, context.price_per_kwh, context.co2_kg_per_kwh)
    return refill * (1.0 + STORE_PREFERENCE)


def safe_dispatch(context: RunContext) -> Dispatch:
    """The fallback schedule: the conventional baseline within ratings, batteries idle."""
    lay = context.layout
    return Dispatch(lay.seg_rating_kw.copy(), lay.sub_rating_kw.copy(), None)


def plan_dispatch(context: RunContext, model: CohortLP, values: FloatArray, step: int) -> Dispatch:
    """Turn the plan's model step ``step`` into the twin's limits and battery set-points.

    The plan's road power becomes a substation's limit only where the plan has a reason to
    hold the road back: its grid import is at the connection's cap, energy sold to
    vehicles loses money at this step's price (user price × worst efficiency below import
    price + carbon cost), or, under a demand charge, the corridor's planned import is at the
    planned peak. Elsewhere the substation runs at its rating and the twin serves
    whatever the actual vehicles can take, so forecast errors do not starve them.

    Batteries follow the plan's set-point, except where the plan discharges to cover the
    whole site load (no import left): there they follow the actual load (full power; the
    runner clips discharge to the site's net load), so a load above forecast is still
    served from storage and not from the grid at that step's price.

    Where the plan's V2G power at a substation exceeds its road power (net V2G), the
    substation's segments are asked to return power (``seg_v2g_kw`` = their ratings; they do
    not charge in that step) and ``sub_v2g_kw`` caps the total at the planned grid-side V2G.
    """
    lay = context.layout
    inp = model.inputs
    road = model.block(values, "road")[step]
    imp = model.block(values, "imp")[step]
    cap = inp.import_limit_kw[step]
    cap = np.where(np.isfinite(cap), cap, np.finfo(np.float64).max)
    capped = imp >= cap * (1.0 - 1e-6) - 1.0
    w = inp.weights
    unit_cost = inp.price_per_kwh[step] + w.carbon_price_per_kg * inp.co2_kg_per_kwh[step]
    losing = w.user_price_per_kwh * float(lay.seg_efficiency.min(initial=1.0)) < unit_cost
    # with a demand charge, a step whose planned import is at the planned peak holds too
    peak = float(values[model.offsets["peak"]])
    at_peak = w.demand_charge_per_kw > 0.0 and float(imp.sum()) >= peak * (1.0 - 1e-6) - 1.0
    hold = capped | losing | at_peak
    sub_limit = np.where(hold, np.maximum(road, 0.0), lay.sub_rating_kw)
    dis = model.block(values, "dis")[step]
    storage = model.block(values, "ch")[step] - dis
    follow = (dis > 1e-6) & (imp <= 1e-6)
    storage = np.where(follow, -inp.storage.power_kw, storage)
    v2g = model.v2g_kw(values)[step]
    net = v2g > np.maximum(road, 0.0) + 1e-6
    if not np.any(net):
        return Dispatch(lay.seg_rating_kw.copy(), sub_limit.astype(np.float64), storage)
    seg_v2g = np.where(net[lay.seg_substation], lay.seg_rating_kw, 0.0).astype(np.float64)
    sub_v2g = np.where(net, v2g, 0.0).astype(np.float64)
    return Dispatch(
        lay.seg_rating_kw.copy(), sub_limit.astype(np.float64), storage, seg_v2g, sub_v2g
    )
