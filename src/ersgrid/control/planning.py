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
        weights=ObjectiveWeights.from_scenario(
            context.scenario, days=len(context.index) * context.step_h / 24.0, planning=True
        ),
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


def plan_dispatch(
    context: RunContext, model: CohortLP, values: FloatArray, step: int,
    network_held: npt.NDArray[np.bool_] | None = None, hold_peak: bool = False,
) -> Dispatch:  # fmt: skip
    """Turn the plan's model step ``step`` into the twin's limits and battery set-points.

    The plan's road energy becomes a substation's budget for the step
    (:attr:`Dispatch.sub_energy_kwh`) only where the plan has a reason to hold the road back:
    energy sold to vehicles loses money at this step's price (user price × worst efficiency
    below import price + carbon cost), or a network limit binds on its draw
    (``network_held``, per substation: :meth:`~ersgrid.optimize.model.CohortLP.network_held`).
    Elsewhere the substation runs at its rating and the twin serves whatever the actual
    vehicles can take, so forecast errors do not starve them. A connection's import cap is
    not a reason to hold: the twin keeps it for every strategy, after the batteries'
    set-point, so the road takes what the cap leaves whatever traffic the plan foresaw (a
    budget from the plan's forecast traffic served fewer vehicles than the cap allowed).
    With ``hold_peak``, a substation is also held at a step where the plan's corridor import
    is at its planned peak under a demand charge and its road power is below what its
    vehicles could take: the plan gave up vehicle energy there to keep the peak, which only a
    plan of the realised vehicles (the oracle's) can do without starving vehicles a forecast
    missed.

    Batteries follow the plan's set-point, except where the plan discharges to cover the
    whole site load (no import left): there they follow the actual load (full power; the
    runner clips discharge to the site's net load), so a load above forecast is still
    served from storage and not from the grid at that step's price. Under a demand charge
    the dispatch also carries an import target (:attr:`Dispatch.import_target_kw`): the
    plan's import at each substation plus its share (by rating) of the corridor's headroom
    to the planned peak, which the EMS keeps in real time with the battery — the peak is
    cut by storage, not by holding vehicles back.

    Where the plan returns V2G power at a substation, its segments are asked to return
    power (``seg_v2g_kw`` = their ratings; V2G vehicles above their exit need discharge
    while the others charge) and ``sub_v2g_kw`` caps the total at the planned grid-side V2G.
    """
    lay = context.layout
    inp = model.inputs
    road = model.block(values, "road")[step]
    imp = model.block(values, "imp")[step]
    w = inp.weights
    unit_cost = inp.price_per_kwh[step] + w.carbon_price_per_kg * inp.co2_kg_per_kwh[step]
    losing = w.user_price_per_kwh * float(lay.seg_efficiency.min(initial=1.0)) < unit_cost
    hold = losing
    if network_held is not None:
        hold = hold | network_held
    if hold_peak and w.demand_charge_per_kw > 0.0:
        peak = float(values[model.offsets["peak"]])
        if peak > 0.0 and float(imp.sum()) >= peak * (1.0 - 1e-6):
            short = road < model.road_potential_kw(model.cohorts.count)[step] * (1.0 - 1e-3)
            hold = hold | short
    # a held substation gets the plan's energy for the step, spent as vehicles come, not
    # its 15-min average power as an instantaneous cap (bursty traffic would lose energy)
    energy = None
    if np.any(hold):
        energy = np.where(hold, np.maximum(road, 0.0) * inp.step_h, np.inf)
    sub_limit = lay.sub_rating_kw.copy()
    dis = model.block(values, "dis")[step]
    storage = model.block(values, "ch")[step] - dis
    follow = (dis > 1e-6) & (imp <= 1e-6)
    storage = np.where(follow, -inp.storage.power_kw, storage)
    target = None
    if w.demand_charge_per_kw > 0.0 and inp.storage.present:
        peak = float(values[model.offsets["peak"]])
        share = lay.sub_rating_kw / float(lay.sub_rating_kw.sum())
        target = (imp + max(peak - float(imp.sum()), 0.0) * share).astype(np.float64)
    # where the plan charges only from a local surplus it foresaw (no import), the battery
    # takes only the surplus there is: it never buys from the grid for that charge
    surplus_only = (storage > 1e-6) & (imp <= 1e-6)
    if np.any(surplus_only) and inp.storage.present:
        held = np.where(surplus_only, 0.0, np.inf)
        target = held if target is None else np.minimum(target, held)
    v2g = model.v2g_kw(values)[step]
    asked = v2g > 1e-6
    seg_v2g = sub_v2g = None
    if np.any(asked):
        seg_v2g = np.where(asked[lay.seg_substation], lay.seg_rating_kw, 0.0).astype(np.float64)
        sub_v2g = np.where(asked, v2g, 0.0).astype(np.float64)
    return Dispatch(
        lay.seg_rating_kw.copy(), sub_limit.astype(np.float64), storage, seg_v2g, sub_v2g,
        target, energy,
    )  # fmt: skip
