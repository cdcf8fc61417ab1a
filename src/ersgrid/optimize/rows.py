"""The cohort LP's rows, one family of constraints per name.

Each family has one function that writes its matrix entries (fixed while the model lives)
and one that gives its bounds in a solve (they change with the
:class:`~ersgrid.optimize.request.PlanRequest`). :data:`ROW_FAMILIES` holds them in row
order; :class:`~ersgrid.optimize.model.CohortLP` stacks them. Columns are named as in
:mod:`ersgrid.optimize.columns`; ``Δ`` is the step [h], ``η`` a segment's grid-to-battery
efficiency, ``ηc``/``ηd`` the batteries' charge and discharge efficiencies.

========== ============ =========================================================
family     rows         constraint
========== ============ =========================================================
cumdef     (cohort,     vehicle energy: cum = previous cum + Σ x − Σ y of the step
           step)
short      cohort       exit need: cum at the last charging step + u ≥
                        count·(target − E0 + trip consumption)
roaddef    (step, sub)  road power: road = Σ x / (η Δ)
balance    (step, sub)  substation balance: imp − exp = road + other − (renewables
                        − curt) + ch − dis − Σ y·η/Δ
soc        (step, sub)  storage energy: soc = previous soc + Δ (ηc ch − dis/ηd)
peak       step         corridor peak: Σ over substations of imp ≤ peak
v2gcap     V2G cohort   V2G surplus: Σ y ≤ count·max(E0 − target − trip, 0)
receiver   V2G          one receiver: x + y ≤ count·x̄
network    (step,       linearised voltage or loading of a network element:
           element)     lo ≤ Σ_s coef·(imp − exp) − nup + ndn ≤ hi (kW-equivalent,
                        :mod:`ersgrid.optimize.network`)
           exposure
========== ============ =========================================================

Import caps, export limits, ratings and battery limits are column bounds
(:mod:`ersgrid.optimize.columns`), not rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ersgrid.optimize.model import CohortLP, Frame

__all__ = ["ROW_FAMILIES", "Entries", "RowFamily"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Pair = tuple[FloatArray, FloatArray]


@dataclass(frozen=True)
class Entries:
    """A family's matrix entries: ``value`` at (``row``, ``col``), rows counted from the
    family's first (0 .. ``n_rows`` − 1), columns of the whole model."""

    n_rows: int
    row: IntArray
    col: IntArray
    value: FloatArray


@dataclass(frozen=True)
class RowFamily:
    """One family of constraints.

    Attributes
    ----------
    name : str
    meaning : str
        The constraint in words (units of its rows in brackets).
    entries : callable (model) -> Entries
    bounds : callable (model, frame) -> (lower, upper)
        Row bounds in one solve, one per row of the family.
    """

    name: str
    meaning: str
    entries: Callable[[CohortLP], Entries]
    bounds: Callable[[CohortLP, Frame], Pair]


def _entries(n_rows: int, *parts: tuple[IntArray, IntArray, FloatArray | float]) -> Entries:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Entries(n_rows, empty, empty.copy(), np.zeros(0))
    rows = [np.asarray(r, dtype=np.int64) for r, _, _ in parts]
    cols = [np.asarray(c, dtype=np.int64) for _, c, _ in parts]
    vals = [np.broadcast_to(np.asarray(v, dtype=np.float64), r.shape) for r, (_, _, v) in
            zip(rows, parts, strict=True)]  # fmt: skip
    return Entries(n_rows, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals))


def _fixed(n: int, value: float = 0.0) -> Pair:
    return np.full(n, value), np.full(n, value)


def _cells(lp: CohortLP) -> IntArray:
    return np.arange(lp.inputs.n_steps * lp.inputs.n_substations)


def _ts(lp: CohortLP) -> IntArray:
    """The (step, substation) cell of each exposure."""
    ex = lp.exposure
    return np.asarray(ex.step * lp.inputs.n_substations + ex.substation, dtype=np.int64)


# --- cumdef: vehicle energy ------------------------------------------------------------


def cumdef_entries(lp: CohortLP) -> Entries:
    """``cum(c, t) − cum(c, t') − Σ_s x(c, t, s) + Σ_s y(c, t, s) = 0``, ``t'`` the cohort's
    previous charging step (none at its first)."""
    o = lp.offsets
    n_f = len(lp.full_cohort)
    f = np.arange(n_f)
    before = f[lp.has_before]
    n_x = len(lp.exposure)
    n_y = len(lp.y_x)
    return _entries(
        n_f,
        (lp.row_of_x, np.arange(n_x), -1.0),
        (f, o["cum"] + f, 1.0),
        (before, o["cum"] + before - 1, -1.0),
        (lp.row_of_x[lp.y_x], o["y"] + np.arange(n_y), 1.0),
    )


def cumdef_bounds(lp: CohortLP, f: Frame) -> Pair:
    return _fixed(len(lp.full_cohort))


# --- short: exit need ------------------------------------------------------------------


def short_entries(lp: CohortLP) -> Entries:
    """``cum(c, last charging step) + u(c) ≥ need(c)``."""
    o = lp.offsets
    n_u = len(lp.u_cohort)
    k = np.arange(n_u)
    return _entries(n_u, (k, o["cum"] + lp.last_of_cohort, 1.0), (k, o["u"] + k, 1.0))


def short_bounds(lp: CohortLP, f: Frame) -> Pair:
    """``need = count·(target − E0 + trip consumption)`` [kWh] for the cohorts that leave in
    the window; no bound for those that leave after it (their exit is not planned in this
    window); 0 for those that left before it (their charge there is zero: the row holds
    with ``u = 0``, and stays finite as the window moves)."""
    c, uc = lp.cohorts, lp.u_cohort
    ends = (lp.exit_step >= f.k0) & (lp.exit_step < f.k1)
    need = (c.target_kwh[uc] - f.energy_kwh[uc] + lp.trip_kwh) * f.count[uc]
    lower = np.where(ends, need, np.where(lp.exit_step < f.k0, 0.0, -np.inf))
    return lower, np.full(len(uc), np.inf)


# --- roaddef: road power ---------------------------------------------------------------


def roaddef_entries(lp: CohortLP) -> Entries:
    """``road(t, s) − Σ x(c, t, s) / (η Δ) = 0`` [kW]."""
    ex = lp.exposure
    cell = _cells(lp)
    grid_per_kwh = 1.0 / (ex.efficiency * lp.inputs.step_h)
    return _entries(
        len(cell),
        (_ts(lp), np.arange(len(ex)), -grid_per_kwh),
        (cell, lp.offsets["road"] + cell, 1.0),
    )


def roaddef_bounds(lp: CohortLP, f: Frame) -> Pair:
    return _fixed(len(_cells(lp)))


# --- balance: substation balance -------------------------------------------------------


def balance_entries(lp: CohortLP) -> Entries:
    """``imp − exp − curt − ch + dis − road + Σ y·η/Δ = other − renewables`` [kW] (V2G
    power counted grid side: battery side × efficiency)."""
    o = lp.offsets
    cell = _cells(lp)
    ey = lp.y_x
    return _entries(
        len(cell),
        (cell, o["imp"] + cell, 1.0), (cell, o["exp"] + cell, -1.0),
        (cell, o["curt"] + cell, -1.0), (cell, o["ch"] + cell, -1.0),
        (cell, o["dis"] + cell, 1.0), (cell, o["road"] + cell, -1.0),
        (_ts(lp)[ey], o["y"] + np.arange(len(ey)), lp.exposure.efficiency[ey] / lp.inputs.step_h),
    )  # fmt: skip


def balance_bounds(lp: CohortLP, f: Frame) -> Pair:
    """Other load minus renewables in the window; 0 outside it, where every column of the
    row is zero (a fixed row, not a free one, so a moving window never frees a row the warm
    basis holds at a bound)."""
    rhs = (lp.inputs.other_load_kw - lp.inputs.renewable_kw).ravel()
    return _fixed_outside(f, rhs, np.zeros(len(rhs)))


def _fixed_outside(f: Frame, inside: FloatArray, outside: FloatArray) -> Pair:
    """Equality rows: ``inside`` in the window, ``outside`` elsewhere."""
    value = np.where(f.live, inside, outside)
    return value, value.copy()


# --- soc: storage energy ---------------------------------------------------------------


def soc_entries(lp: CohortLP) -> Entries:
    """``soc(t, s) − soc(t − 1, s) − Δ ηc ch(t, s) + Δ/ηd dis(t, s) = 0`` [kWh] (at the
    model's first step, ``= stored energy``)."""
    o = lp.offsets
    inp = lp.inputs
    S, dt = inp.n_substations, inp.step_h
    cell = _cells(lp)
    prev = cell - S
    has_prev = prev >= 0
    st = inp.storage
    return _entries(
        len(cell),
        (cell, o["soc"] + cell, 1.0), (cell[has_prev], o["soc"] + prev[has_prev], -1.0),
        (cell, o["ch"] + cell, -dt * st.charge_efficiency),
        (cell, o["dis"] + cell, dt / st.discharge_efficiency),
    )  # fmt: skip


def soc_bounds(lp: CohortLP, f: Frame) -> Pair:
    """0 in the window, the stored energy at the model's first step. Outside the window the
    columns are fixed (:mod:`~ersgrid.optimize.columns`' ``soc``), so each row is the
    activity they give: the stored energy at the step before the window, 0 before that and
    after the window (stored energy carried, no charge or discharge)."""
    S = lp.inputs.n_substations
    inside = np.zeros(len(f.live))
    outside = np.zeros(len(f.live))
    if f.k0 == 0:
        inside[:S] = f.stored_kwh
    else:
        outside[(f.k0 - 1) * S : f.k0 * S] = f.stored_kwh
    return _fixed_outside(f, inside, outside)


# --- peak: corridor peak ---------------------------------------------------------------


def peak_entries(lp: CohortLP) -> Entries:
    """``Σ_s imp(t, s) − peak ≤ 0`` [kW] per step: the demand charge is billed on the
    corridor's total import (the KPIs' ``peak_import_kw``)."""
    T, S = lp.inputs.n_steps, lp.inputs.n_substations
    cell = _cells(lp)
    return _entries(
        T,
        (cell // S, lp.offsets["imp"] + cell, 1.0),
        (np.arange(T), np.full(T, lp.offsets["peak"]), -1.0),
    )


def peak_bounds(lp: CohortLP, f: Frame) -> Pair:
    T = lp.inputs.n_steps
    return np.full(T, -np.inf), np.zeros(T)


# --- v2gcap: V2G surplus ---------------------------------------------------------------


def v2gcap_entries(lp: CohortLP) -> Entries:
    """``Σ y(c, ·, ·) ≤ surplus(c)`` per V2G cohort: with cum = charge − discharge, a
    vehicle's planned energy never falls below its exit target plus what the rest of its
    trip consumes."""
    ex, ey = lp.exposure, lp.y_x
    row = np.searchsorted(lp.y_cohort, ex.cohort[ey])
    return _entries(len(lp.y_cohort), (row, lp.offsets["y"] + np.arange(len(ey)), 1.0))


def v2gcap_bounds(lp: CohortLP, f: Frame) -> Pair:
    """``surplus = count·max(E0 − target − trip consumption, 0)`` [kWh]."""
    c, yc = lp.cohorts, lp.y_cohort
    surplus = np.maximum(f.energy_kwh[yc] - c.target_kwh[yc] - lp.y_trip_kwh, 0.0) * f.count[yc]
    return np.full(len(yc), -np.inf), surplus


# --- receiver: one receiver charges or returns -----------------------------------------


def receiver_entries(lp: CohortLP) -> Entries:
    """``x + y ≤ count·x̄`` per exposure of a V2G cohort: a receiver either charges or
    returns power, so the plan cannot earn the user price on energy it takes straight back."""
    n_y = len(lp.y_x)
    k = np.arange(n_y)
    return _entries(n_y, (k, lp.y_x, 1.0), (k, lp.offsets["y"] + k, 1.0))


def receiver_bounds(lp: CohortLP, f: Frame) -> Pair:
    ex, ey = lp.exposure, lp.y_x
    return np.full(len(ey), -np.inf), f.count[ex.cohort[ey]] * ex.max_kwh[ey]


# --- network: linearised voltage and loading limits -------------------------------------


def network_entries(lp: CohortLP) -> Entries:
    """``Σ_s coef(t, e, s)·(imp(t, s) − exp(t, s)) − nup(t, e) + ndn(t, e)`` [kW-eq] per
    (step, element), ``coef`` the rows' scaled coefficients (zeros left out)."""
    inp, o = lp.inputs, lp.offsets
    T, S, E = inp.n_steps, inp.n_substations, inp.n_elements
    if inp.network is None or E == 0:
        return _entries(0)
    coef = inp.network.row_coef
    t, e, s = np.nonzero(coef)
    row = t * E + e
    cell = t * S + s
    a = coef[t, e, s]
    k = np.arange(T * E)
    return _entries(
        T * E,
        (row, o["imp"] + cell, a), (row, o["exp"] + cell, -a),
        (k, o["nup"] + k, -1.0), (k, o["ndn"] + k, 1.0),
    )  # fmt: skip


def network_bounds(lp: CohortLP, f: Frame) -> Pair:
    """The element's limits less its linearised value at zero draw (the request's
    ``network_base``), scaled, in the window (free where the request gives none); 0
    outside, where every column of the row is zero.

    A limit no draw within the import caps and export limits can reach is left out (its
    side of the row free): the same plans, but the bound of an element the road hardly
    moves, divided by that small effect, reached 3e8 kW-equivalent on shin-tomei and made
    a few of HiGHS's warm solves take seconds where the others take a tenth.
    """
    inp = lp.inputs
    T, E = inp.n_steps, inp.n_elements
    if inp.network is None or E == 0:
        return np.zeros(0), np.zeros(0)
    base = f.request.network_base
    if base is None:
        lo, hi = np.full((T, E), -np.inf), np.full((T, E), np.inf)
    else:
        lo, hi = inp.network.row_bounds(np.asarray(base, dtype=np.float64))
        coef = inp.network.row_coef  # (steps, elements, substations), within [-1, 1]
        most = np.maximum(f.import_limit_kw, 0.0)[:, None, :]  # draw in [-export, import]
        least = -inp.export_limit_kw[:, None, :]
        with np.errstate(invalid="ignore"):  # 0 · inf: a substation that moves nothing
            a, b = coef * most, coef * least
        moved = coef != 0.0
        reach_hi = np.where(moved, np.maximum(a, b), 0.0).sum(axis=2)
        reach_lo = np.where(moved, np.minimum(a, b), 0.0).sum(axis=2)
        hi = np.where(hi >= reach_hi, np.inf, hi)
        lo = np.where(lo <= reach_lo, -np.inf, lo)
    live = ((np.arange(T) >= f.k0) & (np.arange(T) < f.k1))[:, None]
    return np.where(live, lo, 0.0).ravel(), np.where(live, hi, 0.0).ravel()


ROW_FAMILIES: dict[str, RowFamily] = {
    r.name: r
    for r in (
        RowFamily("cumdef", "vehicle energy: cohort charge since entry [kWh]", cumdef_entries,
                  cumdef_bounds),
        RowFamily("short", "exit need: charge plus shortfall covers the need [kWh]",
                  short_entries, short_bounds),
        RowFamily("roaddef", "road power from the charge of the step [kW]", roaddef_entries,
                  roaddef_bounds),
        RowFamily("balance", "substation balance: import and export against the site [kW]",
                  balance_entries, balance_bounds),
        RowFamily("soc", "storage energy from charge and discharge [kWh]", soc_entries,
                  soc_bounds),
        RowFamily("peak", "corridor import at or under the peak [kW]", peak_entries,
                  peak_bounds),
        RowFamily("v2gcap", "V2G only out of the energy above the exit need [kWh]",
                  v2gcap_entries, v2gcap_bounds),
        RowFamily("receiver", "one receiver: charge plus V2G within its limit [kWh]",
                  receiver_entries, receiver_bounds),
        RowFamily("network", "network voltage or loading within its limits [kW-eq]",
                  network_entries, network_bounds),
    )
}  # fmt: skip
"""Every row family of the cohort LP, in row order."""
