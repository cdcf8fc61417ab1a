"""The cohort LP, built from index arrays into one sparse matrix.

The columns come in named blocks (:mod:`ersgrid.optimize.columns`: charge ``x``, shortfall
``u``, cumulative charge ``cum``, the (step, substation) blocks ``road``, ``imp``, ``exp``,
``curt``, ``ch``, ``dis``, ``soc``, the corridor ``peak``, the network slacks ``nup`` and ``ndn``
and V2G ``y``), the rows in named families of constraints (:mod:`ersgrid.optimize.rows`:
vehicle energy ``cumdef``, exit need ``short``, road power ``roaddef``, substation
``balance``, storage energy ``soc``, corridor ``peak``, V2G surplus ``v2gcap``, one
``receiver``, linearised voltage and loading limits ``network``). :class:`CohortLP`
computes the index arrays they share once, stacks the blocks' costs and the families'
entries into one ``scipy.sparse`` matrix, and for each
:class:`~ersgrid.optimize.request.PlanRequest` gives the blocks' and families' bounds
(:meth:`CohortLP.bounds`).

V2G costs its battery wear plus the payment to the owner per kWh discharged
(``ObjectiveWeights.v2g_cost_per_kwh``), so the plan discharges only where the price it
avoids beats that.

Every quantity that changes from one receding-horizon step to the next — cohort counts and
energies, the active window, the stored energy now, import caps — is a bound or a
right-hand side, so the solver keeps its basis between solves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ersgrid.optimize.cohorts import Cohorts, Exposure
from ersgrid.optimize.columns import CELL_BLOCKS, COLUMN_BLOCKS
from ersgrid.optimize.network import NetworkRows
from ersgrid.optimize.objective import ObjectiveWeights
from ersgrid.optimize.request import PlanRequest
from ersgrid.optimize.rows import ROW_FAMILIES
from ersgrid.optimize.storage import StorageArrays

__all__ = ["BLOCKS", "TIME_PREFERENCE", "Bounds", "CohortLP", "Frame", "PlanInputs"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TIME_PREFERENCE = 1e-5
"""Relative premium on earlier imports [-]. Steps of one tariff level cost the same, so an
exact LP may leave a battery's discharge for the last hours of a window, where a forecast
of the load that turns out too high leaves energy undelivered (discharge never exceeds the
actual load). A premium of 1e-5 over the model (0.0003 JPY/kWh on a 32 JPY price) moves
such ties to the earliest steps and changes the objective by at most 1e-5 relative."""

BLOCKS = CELL_BLOCKS
"""The column blocks with one column per (step, substation) cell."""


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
    network : NetworkRows or None
        Linearised voltage and loading limits of the distribution network (rows
        ``network``); None: the plan does not see the network.
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
    network: NetworkRows | None = None

    @property
    def n_steps(self) -> int:
        """Steps of the model."""
        return len(self.price_per_kwh)

    @property
    def n_substations(self) -> int:
        """Substations of the model."""
        return len(self.road_rating_kw)

    @property
    def n_elements(self) -> int:
        """Network elements watched by rows ``network`` (0 without a network)."""
        return 0 if self.network is None else self.network.n_elements


@dataclass
class Bounds:
    """Column and row bounds of one solve."""

    col_lower: FloatArray
    col_upper: FloatArray
    row_lower: FloatArray
    row_upper: FloatArray


@dataclass(frozen=True)
class Frame:
    """A :class:`~ersgrid.optimize.request.PlanRequest` resolved against its model: the
    model's own data where the request leaves a field ``None``.

    Attributes
    ----------
    request : PlanRequest
    k0, k1 : int
        The window: steps ``k0 .. k1 - 1``.
    count : ndarray [veh], per cohort
    energy_kwh : ndarray [kWh], per cohort
    stored_kwh : ndarray [kWh], per substation
    import_limit_kw : ndarray [kW], shape (steps, substations)
    live : ndarray of bool, per (step, substation) cell
        The cell's step is in the window.
    active_x : ndarray of bool, per exposure
        The exposure's step is in the window.
    """

    request: PlanRequest
    k0: int
    k1: int
    count: FloatArray
    energy_kwh: FloatArray
    stored_kwh: FloatArray
    import_limit_kw: FloatArray
    live: BoolArray
    active_x: BoolArray


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
    fixed_shortfall_kwh : float [kWh]
        Unmet energy no plan can change: vehicles of the run that cannot charge anywhere
        in the model (:func:`~ersgrid.optimize.cohorts.idle_shortfall_kwh`). Priced at the
        unmet-need penalty, it is the objective's constant, so a solution's objective is
        the whole run's and not only what the plan decides.

    Attributes
    ----------
    objective_offset : float [currency]
        The objective's constant: ``fixed_shortfall_kwh`` at the unmet-need penalty.
    matrix : scipy.sparse.csc_matrix
        Constraint matrix, rows × columns.
    cost : ndarray
        Objective coefficient of each column [currency per unit of the column].
    offsets, row_offsets : dict of str to int
        First column of each block (:data:`~ersgrid.optimize.columns.COLUMN_BLOCKS`), first
        row of each family (:data:`~ersgrid.optimize.rows.ROW_FAMILIES`).
    u_cohort : ndarray of int64
        The cohort of each ``u`` column and ``short`` row.
    full_cohort, full_step : ndarray of int64
        The (cohort, step) of each ``cum`` column and ``cumdef`` row, sorted.
    row_of_x : ndarray of int64
        The ``cumdef`` row of each exposure.
    has_before : ndarray of bool
        The ``cum`` column's cohort has an earlier charging step.
    last_of_cohort : ndarray of int64
        The last ``cum`` column of each cohort of ``u_cohort``.
    y_x : ndarray of int64
        The exposure of each ``y`` column (the exposures of V2G cohorts).
    y_cohort : ndarray of int64
        The cohort of each ``v2gcap`` row.
    full_consumed_kwh : ndarray [kWh], per ``cum`` column
        Energy one vehicle has consumed from its entry to the end of the step.
    trip_kwh : ndarray [kWh], per ``u_cohort``
        One vehicle's consumption over its trip.
    exit_step : ndarray of int64, per ``u_cohort``
        Model step of its exit.
    y_trip_kwh : ndarray [kWh], per ``y_cohort``
        One vehicle's consumption over its trip.
    """

    def __init__(
        self,
        cohorts: Cohorts,
        exposure: Exposure,
        inputs: PlanInputs,
        storage_value_per_kwh: float = 0.0,
        time_preference: float = TIME_PREFERENCE,
        fixed_shortfall_kwh: float = 0.0,
    ) -> None:
        self.cohorts: Cohorts = cohorts
        self.exposure: Exposure = exposure
        self.inputs: PlanInputs = inputs
        self.storage_value_per_kwh = float(storage_value_per_kwh)
        self.time_preference = float(time_preference)
        self.fixed_shortfall_kwh = float(fixed_shortfall_kwh)
        self.objective_offset = inputs.weights.shortfall_penalty_per_kwh * self.fixed_shortfall_kwh
        T, dt = inputs.n_steps, inputs.step_h
        ex, c = exposure, cohorts
        self.u_cohort: IntArray = _sorted_unique(ex.cohort)
        # one cum column and cumdef row per (cohort, step) where the cohort can charge, sorted
        ks_key = ex.cohort * T + ex.step
        full_key = _sorted_unique(ks_key)
        self.full_cohort: IntArray = full_key // T
        self.full_step: IntArray = full_key % T
        self.row_of_x: IntArray = np.searchsorted(full_key, ks_key)
        self.has_before = np.zeros(len(full_key), dtype=bool)
        self.has_before[1:] = self.full_cohort[1:] == self.full_cohort[:-1]
        self.last_of_cohort = np.searchsorted(self.full_cohort, self.u_cohort, side="right") - 1
        # V2G: one y column per exposure of a V2G cohort, one v2gcap row per such cohort
        self.y_x: IntArray = np.flatnonzero(cohorts.v2g[ex.cohort] > 0.5)
        self.y_cohort: IntArray = _sorted_unique(ex.cohort[self.y_x])
        # per-row data of the cohort rows, fixed at build
        fc, uc, yc = self.full_cohort, self.u_cohort, self.y_cohort
        step_end_h = (self.full_step + 1) * dt
        self.full_consumed_kwh = c.consumption_kwh_per_m[fc] * np.clip(
            (step_end_h - c.entry_h[fc]) * 3600.0 * c.speed_mps[fc],
            0.0,
            c.exit_m[fc] - c.entry_m[fc],
        )
        trip_kwh = c.trip_kwh()
        self.trip_kwh = trip_kwh[uc]
        self.exit_step = c.exit_step(dt)[uc]
        self.y_trip_kwh = trip_kwh[yc]

        self.offsets: dict[str, int] = {}
        pos = 0
        for name, blk in COLUMN_BLOCKS.items():
            self.offsets[name] = pos
            pos += blk.size(self)
        self.n_cols = pos
        self.cost = np.concatenate([blk.cost(self) for blk in COLUMN_BLOCKS.values()])
        self.row_offsets: dict[str, int] = {}
        rows, cols, vals = [], [], []
        pos = 0
        for name, family in ROW_FAMILIES.items():
            e = family.entries(self)
            self.row_offsets[name] = pos
            rows.append(pos + e.row)
            cols.append(e.col)
            vals.append(e.value)
            pos += e.n_rows
        self.n_rows = pos
        self.matrix = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_rows, self.n_cols),
        )

    def consumed_before_kwh(self, step: int) -> FloatArray:
        """Energy one vehicle of each cohort has consumed by the start of ``step`` [kWh]."""
        return self.cohorts.consumed_kwh(step * self.inputs.step_h)

    def frame(self, request: PlanRequest | None = None) -> Frame:
        """``request`` (default: the whole model on its own data) resolved against the model."""
        req = PlanRequest() if request is None else request
        inp, c = self.inputs, self.cohorts
        T, S = inp.n_steps, inp.n_substations
        k0, k1 = req.window if req.window is not None else (0, T)
        step = np.repeat(np.arange(T), S)
        ex_step = self.exposure.step
        return Frame(
            request=req, k0=int(k0), k1=int(k1),
            count=c.count if req.count is None else req.count,
            energy_kwh=c.energy_kwh if req.energy_kwh is None else req.energy_kwh,
            stored_kwh=inp.storage.initial_kwh if req.stored_kwh is None else req.stored_kwh,
            import_limit_kw=inp.import_limit_kw if req.import_limit_kw is None
            else req.import_limit_kw,
            live=(step >= k0) & (step < k1), active_x=(ex_step >= k0) & (ex_step < k1),
        )  # fmt: skip

    def bounds(self, request: PlanRequest | None = None) -> Bounds:
        """Column and row bounds of a solve of ``request`` (default: the whole model on its
        own data): each column block's and each row family's bounds, in order; see
        :class:`~ersgrid.optimize.request.PlanRequest` for each field."""
        f = self.frame(request)
        cols = [blk.bounds(self, f) for blk in COLUMN_BLOCKS.values()]
        rows = [family.bounds(self, f) for family in ROW_FAMILIES.values()]
        return Bounds(
            np.concatenate([lo for lo, _ in cols]), np.concatenate([hi for _, hi in cols]),
            np.concatenate([lo for lo, _ in rows]), np.concatenate([hi for _, hi in rows]),
        )  # fmt: skip

    def block(self, values: FloatArray, name: str) -> FloatArray:
        """A (step, substation) block of a solution vector, shape (steps, substations)."""
        T, S = self.inputs.n_steps, self.inputs.n_substations
        return values[self.offsets[name] : self.offsets[name] + T * S].reshape(T, S)

    def network_values(self, values: FloatArray, base: FloatArray) -> FloatArray:
        """Planned value of each watched network element [its unit], shape (steps,
        elements): the linearisation ``base + Σ coef · (imp − exp)``."""
        net = self.inputs.network
        if net is None:
            return np.zeros((self.inputs.n_steps, 0))
        draw = self.block(values, "imp") - self.block(values, "exp")
        return np.asarray(base + np.einsum("tes,ts->te", net.coef_per_kw, draw), dtype=np.float64)

    def network_slack(self, values: FloatArray) -> FloatArray:
        """Planned excess over each network element's limits [its unit], shape (steps,
        elements): the slacks ``nup + ndn`` of rows ``network``, unscaled."""
        net = self.inputs.network
        T, E = self.inputs.n_steps, self.inputs.n_elements
        if net is None:
            return np.zeros((T, 0))
        o = self.offsets
        up = values[o["nup"] : o["nup"] + T * E].reshape(T, E)
        down = values[o["ndn"] : o["ndn"] + T * E].reshape(T, E)
        return np.asarray((up + down) * net.scale, dtype=np.float64)

    def network_held(
        self, values: FloatArray, request: PlanRequest, tol: float = 1e-6
    ) -> BoolArray:
        """(step, substation) cells whose draw a network row holds: a row at one of its
        bounds (or with slack) with a non-zero coefficient on the cell's draw."""
        net = self.inputs.network
        T, S = self.inputs.n_steps, self.inputs.n_substations
        if net is None or request.network_base is None:
            return np.zeros((T, S), dtype=bool)
        lo, hi = net.row_bounds(np.asarray(request.network_base, dtype=np.float64))
        draw = self.block(values, "imp") - self.block(values, "exp")
        act = np.einsum("tes,ts->te", net.row_coef, draw)
        at_hi = np.isfinite(hi) & (act >= hi - tol * (1.0 + np.abs(np.nan_to_num(hi))))
        at_lo = np.isfinite(lo) & (act <= lo + tol * (1.0 + np.abs(np.nan_to_num(lo))))
        binding = at_hi | at_lo | (self.network_slack(values) > 0.0)
        return np.asarray((binding[:, :, None] & (net.coef_per_kw != 0.0)).any(axis=1))

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
