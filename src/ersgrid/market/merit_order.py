"""A merit-order model of the system price and CO2 intensity from residual load.

Residual load is system demand minus PV and wind. Must-run generation (nuclear, run-of-river
hydro) covers it first at no cost; dispatchable blocks follow in order of marginal cost.
The block that serves the last MW sets the price (uniform pricing, as in a day-ahead
auction); when must-run and renewables cover demand the price falls to the floor, and when
demand exceeds every block it rises to the scarcity price. The CO2 intensity of a step is the
emission of the dispatched blocks over the demand served (renewables and must-run emit
nothing).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ersgrid.scenario.energy import MeritOrderSpec

__all__ = ["merit_order_dispatch"]

FloatArray = npt.NDArray[np.float64]


def merit_order_dispatch(
    demand_mw: FloatArray, renewable_mw: FloatArray, model: MeritOrderSpec
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Price, CO2 intensity and dispatch of each block at each step.

    Parameters
    ----------
    demand_mw : ndarray [MW]
        System demand.
    renewable_mw : ndarray [MW]
        System PV plus wind.
    model : MeritOrderSpec

    Returns
    -------
    price_per_kwh : ndarray [currency/kWh]
    co2_kg_per_kwh : ndarray [kg/kWh]
    dispatch_mw : ndarray [MW], shape (steps, blocks) in the model's block order
    """
    order = np.argsort([p.marginal_cost_per_kwh for p in model.plants], kind="stable")
    cap = np.array([model.plants[i].capacity_mw for i in order])
    cost = np.array([model.plants[i].marginal_cost_per_kwh for i in order])
    factor = np.array([model.plants[i].co2_kg_per_kwh for i in order])
    need = np.maximum(demand_mw - renewable_mw - model.must_run_mw, 0.0)
    before = np.concatenate([[0.0], np.cumsum(cap)[:-1]])
    dispatch_sorted = np.clip(need[:, None] - before[None, :], 0.0, cap[None, :])
    marginal = np.searchsorted(np.cumsum(cap), need, side="left")
    price = np.where(
        need <= 0.0,
        model.floor_price_per_kwh,
        np.where(marginal >= len(cap), model.scarcity_price_per_kwh,
                 cost[np.minimum(marginal, len(cap) - 1)]),
    )  # fmt: skip
    served = np.maximum(demand_mw, 1e-9)
    co2 = (dispatch_sorted * factor[None, :]).sum(axis=1) / served
    dispatch = np.empty_like(dispatch_sorted)
    dispatch[:, order] = dispatch_sorted
    return price.astype(np.float64), co2, dispatch
