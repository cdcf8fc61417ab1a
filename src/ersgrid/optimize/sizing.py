"""The sizing LP: typical days' cohort LPs stacked with the storage size as columns.

Each typical day is its own :class:`~ersgrid.optimize.model.CohortLP` (built with unbounded
storage: ``energy_max_kwh``, ``power_kw`` infinite, nothing stored at the start), solved on
the bounds of its own request (e.g. the ``network_base`` of its network rows). The sizing
LP stacks their matrices block-diagonally, weighs each day's costs by the days it stands for,
and adds the size columns of :data:`SIZES`, one value per unit (the scenario's ``storage``
section gives one unit size for every substation it names):

========================  =====  ================================================
column                    unit   meaning
========================  =====  ================================================
``storage_energy_kwh``    kWh    nameplate energy of each unit
``storage_power_kw``      kW     charge and discharge limit of each unit, AC side
``year_peak_kw``          kW     the year's peak of the corridor's total import
``import_capacity_kw``    kW     per sized connection (:attr:`SizingLP.connections`,
                                 optional): its import limit
``pv_kwp``                kWp    per substation with sized PV (:attr:`SizingLP.pv`,
                                 optional): the PV arrays at its connection
========================  =====  ================================================

The day bounds a size sets become linking rows, per day and (step, storage substation):
``soc − soc_max·E ≤ 0``, ``soc − soc_min·E ≥ 0``, ``ch − P ≤ 0``, ``dis − P ≤ 0``; the
storage row of each day's first step stores ``soc_initial·E`` (``soc − … − soc_initial·E =
0``). Each day's ``peak`` column costs nothing and stays under ``year_peak_kw``
(``peak − year peak ≤ 0``), which carries the demand charge of the year: the tariff's daily
rate times the days of the year, on the highest day's peak, as the representative year's
KPIs bill it (:func:`~ersgrid.run.kpis.combine_kpis`). A sized connection's import bound
becomes ``imp − C ≤ 0`` at every step of every day. Sized PV of ``K`` kWp yields ``K·φ``
(the day's per-kWp profile ``φ``) in the substation balance (``… + φ·K = other − the other
plants' output``) (the day model's renewables are
those of the other plants), and curtailment is at most the renewables: ``curt − φ·K ≤``
the other plants' output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ersgrid.optimize.model import Bounds, CohortLP
from ersgrid.optimize.request import PlanRequest

__all__ = ["CAPACITY", "PV", "SIZES", "SizeBounds", "SizingLP", "StorageUnit"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SIZES = ("storage_energy_kwh", "storage_power_kw", "year_peak_kw")
"""The size columns of :class:`SizingLP`, in column order after the days' columns; the
sized connections' import capacities follow them."""

CAPACITY = "import_capacity_kw"
"""Name prefix of a connection's import capacity column (``import_capacity_kw/<id>``)."""

PV = "pv_kwp"
"""Name prefix of a substation's PV column (``pv_kwp/<id>``)."""


@dataclass(frozen=True)
class StorageUnit:
    """Where the storage units stand and the share of their energy they may use.

    Attributes
    ----------
    present : ndarray of bool, per substation
        The substation has a unit.
    soc_min, soc_max, soc_initial : float [-]
        Shares of the nameplate energy: allowed window and the stored energy at each
        day's start.
    ids : tuple of str
        The substations' ids.
    """

    present: npt.NDArray[np.bool_]
    soc_min: float
    soc_max: float
    soc_initial: float
    ids: tuple[str, ...] = ()

    @property
    def units(self) -> int:
        """Number of units [-]."""
        return int(self.present.sum())


@dataclass(frozen=True)
class SizeBounds:
    """Lower and upper bound and annual cost of each size of :data:`SIZES`.

    Attributes
    ----------
    lower, upper : ndarray [unit of the size], shape (len(SIZES) + sized connections +
        substations with sized PV,)
        Equal bounds fix a size.
    annual_cost : ndarray [currency/a per unit of the size], same shape
        For every unit together: annualised capital and fixed O&M of the storage, the
        demand charge of a year on the peak; a connection's annualised capital per kW.
    """

    lower: FloatArray
    upper: FloatArray
    annual_cost: FloatArray


class SizingLP:
    """The typical days' cohort LPs and the size columns, as one LP.

    Parameters
    ----------
    days : sequence of CohortLP
        One model per typical day, built with unbounded storage (see the module).
    weights : sequence of float [-]
        Each day's operating costs count this many times in the year (its days, times
        the economics' year scaling).
    unit : StorageUnit
    sizes : SizeBounds
    connections : ndarray of bool, per substation, optional
        The connections whose import capacity is sized (one column each, after
        :data:`SIZES`); None: none, the days' import limits hold.
    pv : ndarray of bool, per substation, optional
        The substations whose PV is sized (one column each, after the connections').
    pv_kw_per_kwp : sequence of ndarray [kW/kWp], shape (steps, substations), optional
        Per day, the sized PV's yield per kWp; the day models' ``renewable_kw`` must leave
        that PV out.
    requests : sequence of PlanRequest or None, optional
        Per day, the request whose bounds the day's block takes (e.g. the ``network_base``
        of a day model with network rows); None: the whole day on its own data.

    Attributes
    ----------
    matrix : scipy.sparse.csc_matrix
    cost : ndarray [currency/a per unit of the column]
    objective_offset : float [currency/a]
        The days' constants (:attr:`CohortLP.objective_offset
        <ersgrid.optimize.model.CohortLP.objective_offset>`: the unmet-need penalty of
        vehicles that cannot charge), weighed as their costs.
    n_rows, n_cols : int
    col_offsets : list of int
        First column of each day's block.
    size_col : dict of str to int
        Column of each size.
    """

    def __init__(
        self,
        days: Sequence[CohortLP],
        weights: Sequence[float],
        unit: StorageUnit,
        sizes: SizeBounds,
        connections: npt.NDArray[np.bool_] | None = None,
        pv: npt.NDArray[np.bool_] | None = None,
        pv_kw_per_kwp: Sequence[FloatArray] | None = None,
        requests: Sequence[PlanRequest | None] | None = None,
    ) -> None:
        if len(days) != len(weights) or not days:
            raise ValueError(f"{len(days)} day models for {len(weights)} weights")
        if requests is not None and len(requests) != len(days):
            raise ValueError(f"{len(requests)} requests for {len(days)} day models")
        self.requests: list[PlanRequest | None] = (
            [None] * len(days) if requests is None else list(requests)
        )
        self.days = list(days)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.unit = unit
        self.sizes = sizes
        n_sub = self.days[0].inputs.n_substations
        self.connections = (
            np.zeros(n_sub, dtype=bool) if connections is None else np.asarray(connections)
        )
        sized = np.flatnonzero(self.connections)
        self.pv = np.zeros(n_sub, dtype=bool) if pv is None else np.asarray(pv)
        pv_at = np.flatnonzero(self.pv)
        if len(pv_at) and (pv_kw_per_kwp is None or len(pv_kw_per_kwp) != len(self.days)):
            raise ValueError("sized PV needs each day's yield per kWp")
        self.pv_kw_per_kwp = list(pv_kw_per_kwp or [])
        n_sizes = len(SIZES) + len(sized) + len(pv_at)
        if len(sizes.lower) != n_sizes:
            raise ValueError(f"{len(sizes.lower)} size bounds for {n_sizes} sizes")
        self.col_offsets: list[int] = []
        row_offsets: list[int] = []
        nc = nr = 0
        for m in self.days:
            self.col_offsets.append(nc)
            row_offsets.append(nr)
            nc += m.n_cols
            nr += m.n_rows
        ids = unit.ids if unit.ids else tuple(str(i) for i in range(n_sub))
        cap_names = [f"{CAPACITY}/{ids[s]}" for s in sized]
        pv_names = [f"{PV}/{ids[s]}" for s in pv_at]
        names = [*SIZES, *cap_names, *pv_names]
        self.size_col = {name: nc + i for i, name in enumerate(names)}
        self.n_cols = nc + len(names)
        cap_col = np.array([self.size_col[n] for n in cap_names], dtype=np.int64)
        pv_col = np.array([self.size_col[n] for n in pv_names], dtype=np.int64)
        e_col, p_col, y_col = (self.size_col[n] for n in SIZES)
        rows: list[IntArray] = []
        cols: list[IntArray] = []
        vals: list[FloatArray] = []
        lo: list[FloatArray] = []
        hi: list[FloatArray] = []

        def add(r: IntArray, c: IntArray, v: FloatArray | float) -> None:
            rows.append(np.asarray(r, dtype=np.int64))
            cols.append(np.asarray(c, dtype=np.int64))
            vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(r)).copy())

        for m, c0, r0 in zip(self.days, self.col_offsets, row_offsets, strict=True):
            a = m.matrix.tocoo()
            add(a.row + r0, a.col + c0, a.data)
        pos = nr
        for d, (m, c0, r0) in enumerate(zip(self.days, self.col_offsets, row_offsets, strict=True)):
            T = m.inputs.n_steps
            cells = np.flatnonzero(np.tile(unit.present, T)).astype(np.int64)
            first = np.flatnonzero(unit.present).astype(np.int64)
            # the first step's storage row stores soc_initial·E
            add(r0 + m.row_offsets["soc"] + first, np.full(len(first), e_col), -unit.soc_initial)
            n = len(cells)
            link = [
                ("soc", e_col, -unit.soc_max, -np.inf, 0.0),
                ("ch", p_col, -1.0, -np.inf, 0.0),
                ("dis", p_col, -1.0, -np.inf, 0.0),
            ]
            if unit.soc_min > 0.0:
                link.append(("soc", e_col, -unit.soc_min, 0.0, np.inf))
            for block, size, coef, lower, upper in link:
                r = pos + np.arange(n, dtype=np.int64)
                add(r, c0 + m.offsets[block] + cells, 1.0)
                add(r, np.full(n, size), coef)
                lo.append(np.full(n, lower))
                hi.append(np.full(n, upper))
                pos += n
            if len(sized):
                S = m.inputs.n_substations
                cell = (np.arange(T)[:, None] * S + sized[None, :]).ravel()
                r = pos + np.arange(len(cell), dtype=np.int64)
                add(r, c0 + m.offsets["imp"] + cell, 1.0)
                add(r, np.tile(cap_col, T), -1.0)
                lo.append(np.full(len(cell), -np.inf))
                hi.append(np.zeros(len(cell)))
                pos += len(cell)
            if len(pv_at):
                S = m.inputs.n_substations
                phi = np.asarray(self.pv_kw_per_kwp[d], dtype=np.float64)[:, pv_at]
                cell = (np.arange(T)[:, None] * S + pv_at[None, :]).ravel()
                cols_pv = np.tile(pv_col, T)
                # balance: … + φ·K = other − (other plants' output)
                add(r0 + m.row_offsets["balance"] + cell, cols_pv, phi.ravel())
                r = pos + np.arange(len(cell), dtype=np.int64)
                add(r, c0 + m.offsets["curt"] + cell, 1.0)
                add(r, cols_pv, -phi.ravel())
                lo.append(np.full(len(cell), -np.inf))
                hi.append(m.inputs.renewable_kw.reshape(T, S)[:, pv_at].ravel().astype(np.float64))
                pos += len(cell)
            add(np.array([pos]), np.array([c0 + m.offsets["peak"]]), 1.0)
            add(np.array([pos]), np.array([y_col]), -1.0)
            lo.append(np.array([-np.inf]))
            hi.append(np.array([0.0]))
            pos += 1
        self.n_rows = pos
        self._link_lower = np.concatenate(lo)
        self._link_upper = np.concatenate(hi)
        self.matrix = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(self.n_rows, self.n_cols),
        )
        parts = []
        for m, w in zip(self.days, self.weights, strict=True):
            c = m.cost * w
            c[m.offsets["peak"]] = 0.0  # the year's peak carries the demand charge
            parts.append(c)
        self.cost = np.concatenate([*parts, sizes.annual_cost])
        self.objective_offset = float(
            sum(m.objective_offset * w for m, w in zip(self.days, self.weights, strict=True))
        )

    def bounds(self, lower: FloatArray | None = None, upper: FloatArray | None = None) -> Bounds:
        """Column and row bounds, with the sizes between ``lower`` and ``upper`` (default:
        :attr:`sizes`' bounds)."""
        lo_c, hi_c, lo_r, hi_r = [], [], [], []
        for m, request in zip(self.days, self.requests, strict=True):
            b = m.bounds(request)
            T = m.inputs.n_steps
            room = np.where(np.tile(self.unit.present, T), np.inf, 0.0)
            for block in ("soc", "ch", "dis"):
                sl = slice(m.offsets[block], m.offsets[block] + len(room))
                b.col_lower[sl] = 0.0
                b.col_upper[sl] = room
            if self.connections.any():  # rows imp − C ≤ 0 bound the sized connections
                S = m.inputs.n_substations
                imp = b.col_upper[m.offsets["imp"] : m.offsets["imp"] + T * S].reshape(T, S)
                imp[:, self.connections] = np.inf
            if self.pv.any():  # rows curt − φ·K ≤ other output bound the curtailment
                S = m.inputs.n_substations
                curt = b.col_upper[m.offsets["curt"] : m.offsets["curt"] + T * S].reshape(T, S)
                curt[:, self.pv] = np.inf
            lo_c.append(b.col_lower)
            hi_c.append(b.col_upper)
            lo_r.append(b.row_lower)
            hi_r.append(b.row_upper)
        lo_c.append(self.sizes.lower if lower is None else np.asarray(lower, dtype=np.float64))
        hi_c.append(self.sizes.upper if upper is None else np.asarray(upper, dtype=np.float64))
        return Bounds(
            np.concatenate(lo_c), np.concatenate(hi_c),
            np.concatenate([*lo_r, self._link_lower]), np.concatenate([*hi_r, self._link_upper]),
        )  # fmt: skip

    def day_values(self, values: FloatArray, day: int) -> FloatArray:
        """Day ``day``'s part of a solution vector."""
        c0 = self.col_offsets[day]
        return values[c0 : c0 + self.days[day].n_cols]

    def size_values(self, values: FloatArray) -> dict[str, float]:
        """Each size of a solution [its unit]."""
        return {name: float(values[col]) for name, col in self.size_col.items()}

    def cost_by_block(self, values: FloatArray) -> dict[str, float]:
        """The objective of a solution by column block of the days (weighted, summed over
        the days; ``u`` with the days' constant unmet-need penalty,
        :attr:`objective_offset`) and by size [currency/a]; they sum to the objective."""
        from ersgrid.optimize.columns import COLUMN_BLOCKS

        out: dict[str, float] = {}
        names = list(COLUMN_BLOCKS)
        for d, m in enumerate(self.days):
            x = self.day_values(values, d)
            c = self.cost[self.col_offsets[d] : self.col_offsets[d] + m.n_cols]
            for i, name in enumerate(names):
                start = m.offsets[name]
                stop = m.offsets[names[i + 1]] if i + 1 < len(names) else m.n_cols
                out[name] = out.get(name, 0.0) + float(c[start:stop] @ x[start:stop])
        out["u"] = out.get("u", 0.0) + self.objective_offset
        for name, col in self.size_col.items():
            out[name] = float(self.cost[col] * values[col])
        return out
