"""The cohort LP's column blocks by name: size, cost and bounds of each.

========  ==========================  ======  ===================================
block     index                       unit    meaning
========  ==========================  ======  ===================================
``x``     (cohort, step, substation)  kWh     charge into the cohort's batteries
``u``     cohort                      kWh     cohort's energy short of exit target
``cum``   (cohort, step)              kWh     cohort's charge from its entry to the
                                              end of the step (steps where it can charge)
``road``  (step, substation)          kW      road power, grid side
``imp``   (step, substation)          kW      grid import
``exp``   (step, substation)          kW      grid export
``curt``  (step, substation)          kW      renewable power curtailed
``ch``    (step, substation)          kW      storage charging, AC side
``dis``   (step, substation)          kW      storage discharging, AC side
``soc``   (step, substation)          kWh     stored energy at the end of the step
``peak``  one                         kW      peak of the total import (demand charge)
``nup``   (step, network element)     kW-eq   planned excess over the element's upper
                                              limit (rows ``network``, penalised)
``ndn``   (step, network element)     kW-eq   planned shortfall under its lower limit
``y``     (cohort, step, substation)  kWh     V2G discharge from the cohort's batteries,
                                              for the exposures of V2G cohorts only
========  ==========================  ======  ===================================

:data:`COLUMN_BLOCKS` holds them in column order. Each block's ``cost`` is its objective
coefficient per unit (fixed while the model lives) and its ``bounds`` what one
:class:`~ersgrid.optimize.request.PlanRequest` allows: the import caps, export limits,
ratings, battery power and energy limits (with the request's reserve, the guide's path and
terminal energy) are bounds of these columns, not rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ersgrid.optimize.model import CohortLP, Frame

__all__ = ["CELL_BLOCKS", "COLUMN_BLOCKS", "ColumnBlock"]

FloatArray = npt.NDArray[np.float64]
Pair = tuple[FloatArray, FloatArray]


@dataclass(frozen=True)
class ColumnBlock:
    """One block of columns.

    Attributes
    ----------
    name : str
    unit : str
    size : callable (model) -> int
        Columns of the block in a model.
    cost : callable (model) -> ndarray [currency per unit]
        Objective coefficient of each column.
    bounds : callable (model, frame) -> (lower, upper)
        Bounds of each column in one solve.
    """

    name: str
    unit: str
    size: Callable[[CohortLP], int]
    cost: Callable[[CohortLP], FloatArray]
    bounds: Callable[[CohortLP, Frame], Pair]


def _cells(lp: CohortLP) -> int:
    return lp.inputs.n_steps * lp.inputs.n_substations


def _zero(size: Callable[[CohortLP], int]) -> Callable[[CohortLP], FloatArray]:
    return lambda lp: np.zeros(size(lp))


def _per_cell(lp: CohortLP, f: Frame, upper: FloatArray, lower: FloatArray | float = 0.0) -> Pair:
    """A (step, substation) block's bounds: ``lower .. upper`` in the window, 0 outside."""
    return np.where(f.live, lower, 0.0), np.where(f.live, upper, 0.0)


def _x_bounds(lp: CohortLP, f: Frame) -> Pair:
    """``0 ≤ x ≤ count·x̄`` in the window, 0 outside."""
    ex = lp.exposure
    return np.zeros(len(ex)), np.where(f.active_x, f.count[ex.cohort] * ex.max_kwh, 0.0)


def _x_cost(lp: CohortLP) -> FloatArray:
    """The user price earned per kWh into a battery (a negative cost)."""
    return np.full(len(lp.exposure), -lp.inputs.weights.user_price_per_kwh)


def _u_bounds(lp: CohortLP, f: Frame) -> Pair:
    """``u ≥ 0`` for the cohorts that leave in the window; 0 for the others, whose exit need
    the window does not plan (row ``short`` free) or has met (0, charge zero before the
    window): a shortfall that costs and buys nothing, left at zero by any optimum, so a
    compact session (:mod:`~ersgrid.optimize.solver`) can take it out."""
    ends = (lp.exit_step >= f.k0) & (lp.exit_step < f.k1)
    return np.zeros(len(lp.u_cohort)), np.where(ends, np.inf, 0.0)


def _u_cost(lp: CohortLP) -> FloatArray:
    return np.full(len(lp.u_cohort), lp.inputs.weights.shortfall_penalty_per_kwh)


def _cum_bounds(lp: CohortLP, f: Frame) -> Pair:
    """``cum ≤ count·(full − E0 + consumed by the end of the step)``: its vehicles never
    charge past full; a V2G cohort's net charge may go negative, down to its surplus (row
    ``v2gcap``), so never below ``−count·E0`` (the bound written, implied by the row).
    Outside the window the bound holds too (there the cohort's charge is zero before and
    unchanged after, and the room only grows along the trip), so a moving window never turns
    a finite bound infinite (which would cost the warm basis its dual feasibility). Where a
    cohort has charged nothing, at a step before the window or at every step when it first
    charges after the window (its ``x`` and ``y`` are zero there), ``cum`` is fixed at zero,
    so a compact session (:mod:`~ersgrid.optimize.solver`) takes it out."""
    c, fc = lp.cohorts, lp.full_cohort
    room = np.maximum(c.full_kwh[fc] - f.energy_kwh[fc] + lp.full_consumed_kwh, 0.0) * f.count[fc]
    surplus = np.maximum(f.energy_kwh[fc], 0.0) * f.count[fc]
    lower = np.where(c.v2g[fc] > 0.5, -surplus, 0.0)
    first = lp.full_step[np.maximum.accumulate(np.where(lp.has_before, 0, np.arange(len(fc))))]
    idle = (lp.full_step < f.k0) | (first >= f.k1)
    return np.where(idle, 0.0, lower), np.where(idle, 0.0, room)


def _road_bounds(lp: CohortLP, f: Frame) -> Pair:
    """Road power within the substation's rating."""
    return _per_cell(lp, f, np.tile(lp.inputs.road_rating_kw, lp.inputs.n_steps))


def _imp_bounds(lp: CohortLP, f: Frame) -> Pair:
    """Import within the transformer limit or the request's cap (e.g. demand response)."""
    return _per_cell(lp, f, np.maximum(f.import_limit_kw, 0.0).ravel())


def _imp_cost(lp: CohortLP) -> FloatArray:
    """Energy and carbon price per kW over a step, with the earlier-import premium
    (:data:`~ersgrid.optimize.model.TIME_PREFERENCE`)."""
    inp = lp.inputs
    T, S, dt = inp.n_steps, inp.n_substations, inp.step_h
    unit = inp.price_per_kwh + inp.weights.carbon_price_per_kg * inp.co2_kg_per_kwh
    lean = 1.0 + lp.time_preference * (T - 1 - np.arange(T)) / max(T - 1, 1)
    return np.asarray(np.repeat(unit * lean * dt, S), dtype=np.float64)


def _exp_bounds(lp: CohortLP, f: Frame) -> Pair:
    return _per_cell(lp, f, lp.inputs.export_limit_kw.ravel())


def _exp_cost(lp: CohortLP) -> FloatArray:
    return np.full(_cells(lp), -lp.inputs.weights.export_price_per_kwh * lp.inputs.step_h)


def _curt_bounds(lp: CohortLP, f: Frame) -> Pair:
    """Curtailment within the renewable output."""
    return _per_cell(lp, f, lp.inputs.renewable_kw.ravel())


def _storage_power(lp: CohortLP, f: Frame) -> Pair:
    return _per_cell(lp, f, np.tile(lp.inputs.storage.power_kw, lp.inputs.n_steps))


def _ch_cost(lp: CohortLP) -> FloatArray:
    """Minus the value of the energy it stores (``−value·ηc·Δ``), so a window's end is no
    reason to empty the batteries (see :class:`~ersgrid.optimize.model.CohortLP`)."""
    inp = lp.inputs
    value = lp.storage_value_per_kwh * inp.storage.charge_efficiency * inp.step_h
    return np.full(_cells(lp), -value)


def _dis_cost(lp: CohortLP) -> FloatArray:
    """Wear plus the value of the energy it takes out (``+value·Δ/ηd``)."""
    inp = lp.inputs
    per_kwh = inp.weights.degradation_cost_per_kwh
    per_kwh += lp.storage_value_per_kwh / inp.storage.discharge_efficiency
    return np.full(_cells(lp), per_kwh * inp.step_h)


def _soc_bounds(lp: CohortLP, f: Frame) -> Pair:
    """Stored energy within the battery's window, at least the request's reserve (or what
    is stored now, if less) and its path, at the window's end its terminal energy; the step
    before the window holds what is stored now, the steps before it zero, the steps after
    the window carry its last stored energy (within the battery's limits: rows ``soc`` with
    no charge or discharge there)."""
    inp, req = lp.inputs, f.request
    T, S = inp.n_steps, inp.n_substations
    st = inp.storage
    soc_min = st.energy_min_kwh
    if req.reserve_kwh is not None:
        kept = np.minimum(np.minimum(req.reserve_kwh, f.stored_kwh), st.energy_max_kwh)
        soc_min = np.maximum(soc_min, kept)
    lo, hi = _per_cell(lp, f, np.tile(st.energy_max_kwh, T), np.tile(soc_min, T))
    if req.path_kwh is not None:
        path = np.asarray(req.path_kwh, dtype=np.float64).ravel()
        keep = f.live & np.isfinite(path)
        lo = np.where(keep, np.minimum(np.maximum(lo, path), hi), lo)
    k0, k1 = f.k0, f.k1
    if req.terminal_kwh is not None and k1 > k0:
        end = slice((k1 - 1) * S, k1 * S)
        lo[end] = np.minimum(np.maximum(lo[end], req.terminal_kwh), hi[end])
    if k0 > 0:
        prev = slice((k0 - 1) * S, k0 * S)
        lo[prev] = f.stored_kwh
        hi[prev] = f.stored_kwh
    after = slice(max(k1, k0) * S, T * S)
    lo[after] = np.tile(st.energy_min_kwh, T - max(k1, k0))
    hi[after] = np.tile(st.energy_max_kwh, T - max(k1, k0))
    return lo, hi


def _peak_bounds(lp: CohortLP, f: Frame) -> Pair:
    """At least the peak already owed in the billing period."""
    return np.array([f.request.peak_floor_kw]), np.array([np.inf])


def _peak_cost(lp: CohortLP) -> FloatArray:
    return np.array([lp.inputs.weights.demand_charge_per_kw])


def _elements(lp: CohortLP) -> int:
    return lp.inputs.n_steps * lp.inputs.n_elements


def _network_slack_bounds(lp: CohortLP, f: Frame) -> Pair:
    """``≥ 0`` in the window, 0 outside."""
    step = np.repeat(np.arange(lp.inputs.n_steps), lp.inputs.n_elements)
    live = (step >= f.k0) & (step < f.k1)
    return np.zeros(len(live)), np.where(live, np.inf, 0.0)


def _network_slack_cost(lp: CohortLP) -> FloatArray:
    """:data:`~ersgrid.optimize.network.NETWORK_PENALTY_FACTOR` shortfall penalties of the
    step's kWh per kW-equivalent."""
    inp = lp.inputs
    per = inp.weights.network_penalty_per_kwh_eq * inp.step_h
    return np.full(_elements(lp), per)


def _y_bounds(lp: CohortLP, f: Frame) -> Pair:
    """``0 ≤ y ≤ count·x̄`` in the window, 0 outside."""
    ex, ey = lp.exposure, lp.y_x
    hi = np.where(f.active_x[ey], f.count[ex.cohort[ey]] * ex.max_kwh[ey], 0.0)
    return np.zeros(len(ey)), hi


def _y_cost(lp: CohortLP) -> FloatArray:
    """Refund of the user price, wear and the payment to the owner per kWh returned."""
    return np.full(len(lp.y_x), lp.inputs.weights.v2g_cost_per_kwh)


COLUMN_BLOCKS: dict[str, ColumnBlock] = {
    b.name: b
    for b in (
        ColumnBlock("x", "kWh", lambda lp: len(lp.exposure), _x_cost, _x_bounds),
        ColumnBlock("u", "kWh", lambda lp: len(lp.u_cohort), _u_cost, _u_bounds),
        ColumnBlock("cum", "kWh", lambda lp: len(lp.full_cohort),
                    _zero(lambda lp: len(lp.full_cohort)), _cum_bounds),
        ColumnBlock("road", "kW", _cells, _zero(_cells), _road_bounds),
        ColumnBlock("imp", "kW", _cells, _imp_cost, _imp_bounds),
        ColumnBlock("exp", "kW", _cells, _exp_cost, _exp_bounds),
        ColumnBlock("curt", "kW", _cells, _zero(_cells), _curt_bounds),
        ColumnBlock("ch", "kW", _cells, _ch_cost, _storage_power),
        ColumnBlock("dis", "kW", _cells, _dis_cost, _storage_power),
        ColumnBlock("soc", "kWh", _cells, _zero(_cells), _soc_bounds),
        ColumnBlock("peak", "kW", lambda lp: 1, _peak_cost, _peak_bounds),
        ColumnBlock("nup", "kW-eq", _elements, _network_slack_cost, _network_slack_bounds),
        ColumnBlock("ndn", "kW-eq", _elements, _network_slack_cost, _network_slack_bounds),
        ColumnBlock("y", "kWh", lambda lp: len(lp.y_x), _y_cost, _y_bounds),
    )
}  # fmt: skip
"""Every column block of the cohort LP, in column order."""

CELL_BLOCKS = ("road", "imp", "exp", "curt", "ch", "dis", "soc")
"""The blocks with one column per (step, substation) cell."""
