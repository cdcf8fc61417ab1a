"""The cohort LP, built from index arrays into one sparse matrix.

Variables (column blocks, in this order):

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
``y``     (cohort, step, substation)  kWh     V2G discharge from the cohort's batteries,
                                              for the exposures of V2G cohorts only
========  ==========================  ======  ===================================

Rows:

- ``cumdef``: cum at a step = cum at the cohort's previous charging step + its charge in the
  step − its V2G discharge in the step; the bound
  ``cum ≤ count·(full − E0 + consumed by the end of the step)`` keeps its vehicles from
  charging past full;
- ``short``: cum at the cohort's last charging step + u ≥ count·(target − E0 + consumption
  of the trip);
- ``roaddef``: road = Σ x / (η Δ);
- ``balance``: imp − exp − curt − ch + dis − road + Σ y·η/Δ = other − renewables, i.e.
  import − export = road + other − (renewables − curtailment) + storage charge − discharge
  − V2G (grid side = battery side × efficiency);
- ``soc``: stored energy = previous + Δ·(ηc·ch − dis/ηd);
- ``peak``: Σ over substations of imp ≤ peak, per step (the demand charge is billed on the
  corridor's total import, as the KPIs' ``peak_import_kw``);
- ``v2gcap``: Σ y of a V2G cohort ≤ count·max(E0 − target − trip consumption, 0), its surplus
  over what it needs at its exit: with cum = charge − discharge, a vehicle's planned energy
  then never falls below its exit target plus what the rest of its trip consumes;
- ``receiver``: x + y ≤ count·x̄ per exposure of a V2G cohort: a receiver either charges or
  returns power, so the plan cannot earn the user price on energy it takes straight back.

V2G costs its battery wear plus the payment to the owner per kWh discharged
(``ObjectiveWeights.v2g_cost_per_kwh``), so the plan discharges only where the price it
avoids beats that.

Every quantity that changes from one receding-horizon step to the next — cohort counts and
energies, the active window, the stored energy now, import caps — is a bound or a
right-hand side (:meth:`CohortLP.bounds`), so the solver keeps its basis between solves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ersgrid.optimize.cohorts import Cohorts, Exposure
from ersgrid.optimize.objective import ObjectiveWeights
from ersgrid.optimize.request import PlanRequest
from ersgrid.optimize.storage import StorageArrays

__all__ = ["BLOCKS", "TIME_PREFERENCE", "Bounds", "CohortLP", "PlanInputs"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TIME_PREFERENCE = 1e-5
"""Relative premium on earlier imports [-]. Steps of one tariff level cost the same, so an
exact LP may leave a battery's discharge for the last hours of a window, where a forecast
of the load that turns out too high leaves energy undelivered (discharge never exceeds the
actual load). A premium of 1e-5 over the model (0.0003 JPY/kWh on a 32 JPY price) moves
such ties to the earliest steps and changes the objective by at most 1e-5 relative."""

BLOCKS = ("road", "imp", "exp", "curt", "ch", "dis", "soc")
"""Per (step, substation) column blocks after ``x`` and ``u``."""


@dataclass(frozen=True)
class PlanInputs:
    """Prices, site data and limits over the model's steps, shape (steps,) or (steps, subs).

    Attributes
    ----------
    step_h : float [h]
    price_per_kwh : ndarray [currency/kWh]
        Grid import price.
    co2_kg_per_kwh : ndarray [kg/kWh]
    other_load_kw, renewable_kw, import_limit_kw, export_limit_kw : ndarray [kW]
    road_rating_kw : ndarray [kW], per substation
    weights : ObjectiveWeights
    storage : StorageArrays
    """

    step_h: float
    price_per_kwh: FloatArray
    co2_kg_per_kwh: FloatArray
    other_load_kw: FloatArray
    renewable_kw: FloatArray
    import_limit_kw: FloatArray
    export_limit_kw: FloatArray
    road_rating_kw: FloatArray
    weights: ObjectiveWeights
    storage: StorageArrays

    @property
    def n_steps(self) -> int:
        """Steps of the model."""
        return len(self.price_per_kwh)

    @property
    def n_substations(self) -> int:
        """Substations of the model."""
        return len(self.road_rating_kw)


@dataclass
class Bounds:
    """Column and row bounds of one solve."""

    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray


def _sorted_unique(values: IntArray) -> IntArray:
    """``np.unique`` without its sort when ``values`` is already sorted (as exposures are)."""
    if len(values) and np.all(values[1:] >= values[:-1]):
        first = np.ones(len(values), dtype=bool)
        first[1:] = values[1:] != values[:-1]
        return values[first]
    return np.unique(values)


class CohortLP:
    """The planning LP of a set of cohorts over ``inputs.n_steps`` steps.

    Parameters
    ----------
    cohorts : Cohorts
    exposure : Exposure
        From :func:`~ersgrid.optimize.cohorts.exposure` over the same steps.
    inputs : PlanInputs
    storage_value_per_kwh : float [currency/kWh]
        Value of a kWh in the batteries at the end of the planning window, so a window's end
        is not a reason to empty them (:func:`~ersgrid.optimize.objective.refill_cost_per_kwh`
        is the value the KPIs use). Written as costs on charge (``−value·ηc·Δ``) and
        discharge (``+value·Δ/ηd``) so that it follows any window with no change of cost.
    time_preference : float [-]
        Import cost is scaled by ``1 + time_preference · (steps left) / steps``: a tie-break
        that, between steps of equal price, serves load from the battery earlier (see
        :data:`TIME_PREFERENCE`). 0 gives the exact objective.

    Attributes
    ----------
    matrix : scipy.sparse.csc_matrix
        Constraint matrix, rows × columns.
    cost : ndarray
        Objective coefficient of each column [currency per unit of the column].
    """

    def __init__(
        self,
        cohorts: Cohorts,
        exposure: Exposure,
        inputs: PlanInputs,
        storage_value_per_kwh: float = 0.0,
        time_preference: float = TIME_PREFERENCE,
    ) -> None:
        self.cohorts = cohorts
        self.exposure = exposure
        self.inputs = inputs
        self.storage_value_per_kwh = float(storage_value_per_kwh)
        self.time_preference = float(time_preference)
        T, S, dt = inputs.n_steps, inputs.n_substations, inputs.step_h
        ex = exposure
        n_x = len(ex)
        self.u_cohort = _sorted_unique(ex.cohort)
        n_u = len(self.u_cohort)
        n_ts = T * S
        # one cum column and cumdef row per (cohort, step) where the cohort can charge, sorted
        ks_key = ex.cohort * T + ex.step
        full_key = _sorted_unique(ks_key)
        self.full_cohort = full_key // T
        self.full_step = full_key % T
        n_f = len(full_key)
        row_of_x = np.searchsorted(full_key, ks_key)
        has_before = np.zeros(n_f, dtype=bool)
        has_before[1:] = self.full_cohort[1:] == self.full_cohort[:-1]
        last_of_cohort = np.searchsorted(self.full_cohort, self.u_cohort, side="right") - 1

        self.offsets = {"x": 0, "u": n_x, "cum": n_x + n_u}
        pos = n_x + n_u + n_f
        for name in BLOCKS:
            self.offsets[name] = pos
            pos += n_ts
        # V2G: one y column per exposure of a V2G cohort, one v2gcap row per such cohort
        self.y_x = np.flatnonzero(cohorts.v2g[ex.cohort] > 0.5)
        n_y = len(self.y_x)
        self.y_cohort = _sorted_unique(ex.cohort[self.y_x])
        n_yc = len(self.y_cohort)
        self.offsets["peak"] = pos
        self.offsets["y"] = pos + 1
        self.n_cols = pos + 1 + n_y

        r_short = n_f
        r_roaddef = r_short + n_u
        r_balance = r_roaddef + n_ts
        r_soc = r_balance + n_ts
        r_peak = r_soc + n_ts
        r_v2g = r_peak + T
        r_recv = r_v2g + n_yc
        self.n_rows = r_recv + n_y
        self.row_offsets = {
            "cumdef": 0, "short": r_short, "roaddef": r_roaddef, "balance": r_balance,
            "soc": r_soc, "peak": r_peak, "v2gcap": r_v2g, "receiver": r_recv,
        }  # fmt: skip

        ts = ex.step * S + ex.substation
        grid_per_kwh = 1.0 / (ex.efficiency * dt)
        cell = np.arange(n_ts)
        o = self.offsets
        eta_c = inputs.storage.charge_efficiency
        eta_d = inputs.storage.discharge_efficiency
        prev = cell - S
        has_prev = prev >= 0
        f = np.arange(n_f)
        rows = [
            row_of_x, f, f[has_before],
            r_short + np.arange(n_u), r_short + np.arange(n_u),
            r_roaddef + ts, r_roaddef + cell,
            r_balance + cell, r_balance + cell, r_balance + cell, r_balance + cell,
            r_balance + cell, r_balance + cell,
            r_soc + cell, r_soc + cell[has_prev], r_soc + cell, r_soc + cell,
            row_of_x[self.y_x], r_balance + ts[self.y_x],
            r_v2g + np.searchsorted(self.y_cohort, ex.cohort[self.y_x]),
            r_peak + cell // S, r_peak + np.arange(T),
            r_recv + np.arange(n_y), r_recv + np.arange(n_y),
        ]  # fmt: skip
        cols = [
            np.arange(n_x), o["cum"] + f, o["cum"] + f[has_before] - 1,
            o["cum"] + last_of_cohort, o["u"] + np.arange(n_u),
            np.arange(n_x), o["road"] + cell,
            o["imp"] + cell, o["exp"] + cell, o["curt"] + cell, o["ch"] + cell,
            o["dis"] + cell, o["road"] + cell,
            o["soc"] + cell, o["soc"] + prev[has_prev], o["ch"] + cell, o["dis"] + cell,
            o["y"] + np.arange(n_y), o["y"] + np.arange(n_y), o["y"] + np.arange(n_y),
            o["imp"] + cell, np.full(T, o["peak"]),
            self.y_x, o["y"] + np.arange(n_y),
        ]  # fmt: skip
        vals = [
            -np.ones(n_x), np.ones(n_f), -np.ones(int(has_before.sum())),
            np.ones(n_u), np.ones(n_u),
            -grid_per_kwh, np.ones(n_ts),
            np.ones(n_ts), -np.ones(n_ts), -np.ones(n_ts), -np.ones(n_ts),
            np.ones(n_ts), -np.ones(n_ts),
            np.ones(n_ts), -np.ones(int(has_prev.sum())), np.full(n_ts, -dt * eta_c),
            np.full(n_ts, dt / eta_d),
            np.ones(n_y), ex.efficiency[self.y_x] / dt, np.ones(n_y),
            np.ones(n_ts), -np.ones(T),
            np.ones(n_y), np.ones(n_y),
        ]  # fmt: skip
        self.matrix = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_rows, self.n_cols),
        )
        w = inputs.weights
        cost = np.zeros(self.n_cols)
        cost[:n_x] = -w.user_price_per_kwh
        cost[o["u"] : o["u"] + n_u] = w.shortfall_penalty_per_kwh
        unit = inputs.price_per_kwh + w.carbon_price_per_kg * inputs.co2_kg_per_kwh
        lean = 1.0 + time_preference * (T - 1 - np.arange(T)) / max(T - 1, 1)
        cost[o["imp"] : o["imp"] + n_ts] = np.repeat(unit * lean * dt, S)
        cost[o["exp"] : o["exp"] + n_ts] = -w.export_price_per_kwh * dt
        value = storage_value_per_kwh
        cost[o["ch"] : o["ch"] + n_ts] = -value * eta_c * dt
        cost[o["dis"] : o["dis"] + n_ts] = (w.degradation_cost_per_kwh + value / eta_d) * dt
        cost[o["peak"]] = w.demand_charge_per_kw
        cost[o["y"] :] = w.v2g_cost_per_kwh
        self.cost = cost

        # per-row data of the cohort rows, fixed at build
        step_end_h = (self.full_step + 1) * dt
        c = cohorts
        fc = self.full_cohort
        self._full_consumed = c.consumption_kwh_per_m[fc] * np.clip(
            (step_end_h - c.entry_h[fc]) * 3600.0 * c.speed_mps[fc],
            0.0,
            c.exit_m[fc] - c.entry_m[fc],
        )
        uc = self.u_cohort
        self._trip_kwh = c.consumption_kwh_per_m[uc] * (c.exit_m[uc] - c.entry_m[uc])
        self._exit_step = np.floor((c.entry_h[uc] + c.trip_h()[uc]) / dt).astype(np.int64)
        yc = self.y_cohort
        self._y_trip_kwh = c.consumption_kwh_per_m[yc] * (c.exit_m[yc] - c.entry_m[yc])

    def consumed_before_kwh(self, step: int) -> FloatArray:
        """Energy one vehicle of each cohort has consumed by the start of ``step`` [kWh]."""
        return self.cohorts.consumed_kwh(step * self.inputs.step_h)

    def bounds(self, request: PlanRequest | None = None) -> Bounds:
        """Column and row bounds of a solve of ``request`` (default: the whole model on its
        own data); see :class:`~ersgrid.optimize.request.PlanRequest` for each field."""
        req = PlanRequest() if request is None else request
        window, count, energy_kwh = req.window, req.count, req.energy_kwh
        stored_kwh, import_limit_kw = req.stored_kwh, req.import_limit_kw
        terminal_kwh, reserve_kwh, path_kwh = req.terminal_kwh, req.reserve_kwh, req.path_kwh
        peak_floor_kw = req.peak_floor_kw
        inp = self.inputs
        T, S = inp.n_steps, inp.n_substations
        k0, k1 = window if window is not None else (0, T)
        c = self.cohorts
        n = c.count if count is None else count
        e0 = c.energy_kwh if energy_kwh is None else energy_kwh
        stored = inp.storage.initial_kwh if stored_kwh is None else stored_kwh
        imp_cap = inp.import_limit_kw if import_limit_kw is None else import_limit_kw
        o = self.offsets
        ex = self.exposure
        lo = np.zeros(self.n_cols)
        hi = np.zeros(self.n_cols)
        active_x = (ex.step >= k0) & (ex.step < k1)
        hi[: len(ex)] = np.where(active_x, n[ex.cohort] * ex.max_kwh, 0.0)
        n_u = len(self.u_cohort)
        hi[o["u"] : o["u"] + n_u] = np.inf
        step = np.repeat(np.arange(T), S)
        live = (step >= k0) & (step < k1)

        def put(name: str, upper: FloatArray, lower: FloatArray | float = 0.0) -> None:
            sl = slice(o[name], o[name] + T * S)
            lo[sl] = np.where(live, lower, 0.0)
            hi[sl] = np.where(live, upper, 0.0)

        put("road", np.tile(inp.road_rating_kw, T))
        put("imp", np.maximum(imp_cap, 0.0).ravel())
        put("exp", inp.export_limit_kw.ravel())
        put("curt", inp.renewable_kw.ravel())
        put("ch", np.tile(inp.storage.power_kw, T))
        put("dis", np.tile(inp.storage.power_kw, T))
        st = inp.storage
        soc_min = st.energy_min_kwh
        if reserve_kwh is not None:
            kept = np.minimum(np.minimum(reserve_kwh, stored), st.energy_max_kwh)
            soc_min = np.maximum(soc_min, kept)
        put("soc", np.tile(st.energy_max_kwh, T), np.tile(soc_min, T))
        if path_kwh is not None:
            sl = slice(o["soc"], o["soc"] + T * S)
            path = np.asarray(path_kwh, dtype=np.float64).ravel()
            keep = live & np.isfinite(path)
            lo[sl] = np.where(keep, np.minimum(np.maximum(lo[sl], path), hi[sl]), lo[sl])
        if terminal_kwh is not None and k1 > k0:
            end = slice(o["soc"] + (k1 - 1) * S, o["soc"] + k1 * S)
            lo[end] = np.minimum(np.maximum(lo[end], terminal_kwh), hi[end])
        if k0 > 0:
            prev = slice(o["soc"] + (k0 - 1) * S, o["soc"] + k0 * S)
            lo[prev] = stored
            hi[prev] = stored

        fc, fs = self.full_cohort, self.full_step
        in_win = (fs >= k0) & (fs < k1)
        room = np.maximum(c.full_kwh[fc] - e0[fc] + self._full_consumed, 0.0) * n[fc]
        cum = slice(o["cum"], o["cum"] + len(fc))
        # a V2G cohort's net charge may go negative (down to its surplus, row v2gcap)
        lo[cum] = np.where(c.v2g[fc] > 0.5, -np.inf, 0.0)
        hi[cum] = np.where(in_win, room, np.inf)
        ey = self.y_x
        hi[o["y"] :] = np.where(active_x[ey], n[ex.cohort[ey]] * ex.max_kwh[ey], 0.0)
        rlo = np.full(self.n_rows, -np.inf)
        rhi = np.full(self.n_rows, np.inf)
        rlo[: len(fc)] = 0.0
        rhi[: len(fc)] = 0.0
        uc = self.u_cohort
        ends = (self._exit_step >= k0) & (self._exit_step < k1)
        need = (c.target_kwh[uc] - e0[uc] + self._trip_kwh) * n[uc]
        r = self.row_offsets
        rlo[r["short"] : r["short"] + n_u] = np.where(ends, need, -np.inf)
        rlo[r["roaddef"] : r["roaddef"] + T * S] = 0.0
        rhi[r["roaddef"] : r["roaddef"] + T * S] = 0.0
        rhs = (inp.other_load_kw - inp.renewable_kw).ravel()
        bal = slice(r["balance"], r["balance"] + T * S)
        rlo[bal] = np.where(live, rhs, -np.inf)
        rhi[bal] = np.where(live, rhs, np.inf)
        soc = slice(r["soc"], r["soc"] + T * S)
        first = np.zeros(T * S)
        if k0 == 0:
            first[:S] = stored
        rlo[soc] = np.where(live, first, -np.inf)
        rhi[soc] = np.where(live, first, np.inf)
        lo[o["peak"]] = peak_floor_kw
        hi[o["peak"]] = np.inf
        rhi[r["peak"] : r["peak"] + T] = 0.0
        yc = self.y_cohort
        surplus = np.maximum(e0[yc] - c.target_kwh[yc] - self._y_trip_kwh, 0.0) * n[yc]
        rhi[r["v2gcap"] : r["v2gcap"] + len(yc)] = surplus
        rhi[r["receiver"] :] = n[ex.cohort[ey]] * ex.max_kwh[ey]
        return Bounds(lo, hi, rlo, rhi)

    def block(self, values: FloatArray, name: str) -> FloatArray:
        """A (step, substation) block of a solution vector, shape (steps, substations)."""
        T, S = self.inputs.n_steps, self.inputs.n_substations
        return values[self.offsets[name] : self.offsets[name] + T * S].reshape(T, S)

    def v2g_kw(self, values: FloatArray) -> FloatArray:
        """Planned V2G power, grid side [kW], shape (steps, substations)."""
        T, S = self.inputs.n_steps, self.inputs.n_substations
        ex, ey = self.exposure, self.y_x
        grid = values[self.offsets["y"] :] * ex.efficiency[ey] / self.inputs.step_h
        key = ex.step[ey] * S + ex.substation[ey]
        total = np.bincount(key, weights=grid, minlength=T * S)
        return np.asarray(total, dtype=np.float64).reshape(T, S)

    def road_potential_kw(self, count: FloatArray) -> FloatArray:
        """Road power if every cohort took all it could [kW], shape (steps, substations)."""
        T, S = self.inputs.n_steps, self.inputs.n_substations
        ex = self.exposure
        grid = count[ex.cohort] * ex.max_kwh / ex.efficiency / self.inputs.step_h
        total = np.bincount(ex.step * S + ex.substation, weights=grid, minlength=T * S)
        return np.asarray(total, dtype=np.float64).reshape(T, S)
