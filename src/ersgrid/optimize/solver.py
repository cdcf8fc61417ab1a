"""Solve a :class:`~ersgrid.optimize.model.CohortLP` with HiGHS, cold once and warm after.

The matrix and costs go to HiGHS once (:meth:`HighsSession.__init__`); each later solve
sends only the column and row bounds that differ from those the session last sent, so a
re-plan costs what changed, and HiGHS restarts from the basis of the previous solve.

A warm solve costs HiGHS time in proportion to the model it holds, not to the handful of
iterations it takes, and a receding-horizon model is mostly fixed at zero: the steps
before the window, the steps after it and the cohorts that have left or not yet entered.
A *compact* session (``compact=True``) holds only the columns not fixed at zero and the
rows they touch (:meth:`HighsSession.solve_bounds`): it takes out the columns a solve fixes
at zero (those the basis holds at a bound) and the rows left without a column (those whose
slack is basic), and puts them back, nonbasic and with basic slacks, when a later solve
frees them, so the basis stays valid and the LP solved is the model's exactly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import highspy
import numpy as np
import numpy.typing as npt

from ersgrid.errors import InfeasibleSchedule
from ersgrid.optimize.model import Bounds, CohortLP
from ersgrid.optimize.request import PlanRequest

__all__ = ["HighsSession", "LinearModel", "Solution", "quiet_highs"]

FloatArray = npt.NDArray[np.float64]
log = logging.getLogger(__name__)

COMPACT_SHARE = 0.02
"""A compact session takes columns out only once this share of those it holds is fixed at
zero [-] (each take-out asks HiGHS for its basis, which costs about a tenth of a warm
solve); it puts columns back at every solve that frees them."""

PRIMAL_FEASIBILITY_TOLERANCE = 1e-6
"""HiGHS's primal feasibility tolerance [kWh, kW]: ten times its default. Over a day of warm
re-plans residues a little above the default (1e-7) piled up on hundreds of rows until the
dual simplex stopped at "possibly dual unbounded" and retried, taking 1–3 s for a handful of
iterations; at 1e-6 (a micro-kWh on values up to thousands) a shin-tomei day of re-plans
took 12 s of HiGHS instead of 45 s (docs/journal.md, Planner)."""

PROBE_TIME_LIMIT_S = 60.0
"""Time limit of each relaxed solve that names the binding constraint group [s]."""


class LinearModel(Protocol):
    """What a session needs of a model: its matrix, costs and first bounds (a
    :class:`~ersgrid.optimize.model.CohortLP`, or one built from several, as
    :class:`~ersgrid.optimize.sizing.SizingLP` is)."""

    n_rows: int
    n_cols: int
    matrix: Any
    cost: FloatArray
    objective_offset: float
    """The objective's constant [currency]: part of every solution's objective."""

    def bounds(self) -> Bounds:
        """The bounds of the model's first solve."""
        ...


def quiet_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing (no banner, no log) on stdout.

    ``highspy.Highs()`` prints the "Running HiGHS" banner while its constructor installs the
    Python callback bridge, before any option can be set. The core class ``highspy._Highs``
    (no callbacks; the planner uses none) prints nothing until it runs, so output is turned
    off before its first call. Falls back to ``highspy.Highs`` on releases without it.
    """
    factory = getattr(highspy, "_Highs", highspy.Highs)
    h: highspy.Highs = factory()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    return h


@dataclass(frozen=True)
class Solution:
    """One solve's result.

    Attributes
    ----------
    values : ndarray
        Column values (see the block table of :mod:`ersgrid.optimize.model`).
    objective : float [currency]
    solve_s : float [s]
        Wall time of the solve.
    iterations : int
        Simplex iterations.
    sent : int
        Column and row bounds sent to HiGHS for this solve (those that changed since the
        session's previous solve).
    send_s : float [s]
        Wall time of finding and sending them.
    """

    values: FloatArray
    objective: float
    solve_s: float
    iterations: int
    sent: int = 0
    send_s: float = 0.0


class HighsSession:
    """A HiGHS instance holding one model, for repeated solves under new bounds.

    Parameters
    ----------
    model : CohortLP or LinearModel
        Another model than a CohortLP solves by :meth:`solve_bounds` only.
    time_limit_s : float [s]
        Per solve; a solve that hits it counts as a failure.
    threads : int
        HiGHS threads (1 keeps runs reproducible and polite on shared machines).
    compact : bool
        HiGHS holds only the columns not fixed at zero and the rows they touch (module
        docstring); the solutions are the same model's.
    presolve : bool
        Let HiGHS presolve the cold solve (a warm one starts from the basis and skips it).
        The decomposed planner's groups turn it off: there it cost more than it saved,
        while the long models of ``mpc``'s guide solve much faster with it
        (docs/journal.md, Planner).
    resident : bool
        Keep the HiGHS instance between solves. False: the instance is freed after each
        solve, keeping only its basis, and built again (the model passed with the next
        solve's bounds, the basis set) at the next, which starts warm from that basis.
        A HiGHS instance holds several copies of the model and the simplex's work arrays
        (about 290 MB for a 357,000-column group of the national corridor); the decomposed
        planner's groups, solved one after another, then hold one instance at a time for
        the price of a rebuild and a factorisation per solve. Not with ``compact``.

    Attributes
    ----------
    held : (int, int)
        Columns and rows HiGHS holds now.
    """

    def __init__(
        self,
        model: CohortLP | LinearModel,
        time_limit_s: float = 60.0,
        threads: int = 1,
        compact: bool = False,
        presolve: bool = True,
        resident: bool = True,
    ) -> None:
        if compact and not resident:
            raise ValueError("a compact session keeps its HiGHS instance: give resident=True")
        self.model = model
        self.time_limit_s = float(time_limit_s)
        self._options: dict[str, Any] = {
            "threads": int(threads), "presolve": "on" if presolve else "off",
            "primal_feasibility_tolerance": PRIMAL_FEASIBILITY_TOLERANCE,
        }  # fmt: skip
        self.resident = bool(resident)
        self._basis: Any = None  # a freed instance's basis, set into the next
        self._highs: highspy.Highs | None = None
        self._sent: Bounds | None = None
        if self.resident:
            first = model.bounds()
            self._highs = self._instance(first)
            self._sent = _copy(first)
        self.solves = 0
        self.compact = bool(compact)
        # the model column (row) of each HiGHS column (row), and where each model column
        # (row) sits in HiGHS (-1: taken out, fixed at zero)
        self._cols = np.arange(model.n_cols, dtype=np.int64)
        self._rows = np.arange(model.n_rows, dtype=np.int64)
        self._col_at = self._cols.copy()
        self._row_at = self._rows.copy()
        self._csc: Any = None
        self._csr: Any = None
        self._pattern: Any = None

    def _instance(self, bounds: Bounds) -> highspy.Highs:
        """A HiGHS instance holding the model under ``bounds``, with the session's options."""
        h = quiet_highs()
        for name, value in self._options.items():
            h.setOptionValue(name, value)
        if _pass(h, self.model, bounds) == highspy.HighsStatus.kError:
            raise InfeasibleSchedule("HiGHS rejected the planning model (passModel failed)")
        return h

    @property
    def held(self) -> tuple[int, int]:
        """Columns and rows HiGHS holds now."""
        return len(self._cols), len(self._rows)

    def set_time_limit(self, seconds: float) -> None:
        """Change the per-solve time limit [s]."""
        self.time_limit_s = float(seconds)

    def solve(self, request: PlanRequest | None = None) -> Solution:
        """Solve ``request`` (default: the whole model on its own data), warm from the
        previous basis if there is one.

        Raises
        ------
        InfeasibleSchedule
            As :meth:`solve_bounds`.
        """
        if not isinstance(self.model, CohortLP):
            raise TypeError("a plan request needs a CohortLP; give this model's bounds")
        return self.solve_bounds(self.model.bounds(request))

    def solve_bounds(self, bounds: Bounds) -> Solution:
        """Solve under ``bounds`` (a request's, possibly adjusted, as the decomposed
        planner's groups are), warm from the previous basis if there is one.

        Raises
        ------
        InfeasibleSchedule
            If HiGHS does not report an optimal solution; the message names the status and,
            for an infeasible model, the constraint group whose relaxation restores
            feasibility.
        """
        t0 = time.perf_counter()
        if self._highs is None:  # freed after the last solve: built again, warm from its basis
            h = self._highs = self._instance(bounds)
            if self._basis is not None and h.setBasis(self._basis) == highspy.HighsStatus.kError:
                log.warning("HiGHS rejected the saved basis; this solve starts cold")
            self._basis = None
            sent = self.model.n_cols + self.model.n_rows
        else:
            h = self._highs
            sent = self._reshape(bounds) if self.compact else 0
            sent += self._send(bounds)
        send_s = time.perf_counter() - t0
        # HiGHS's time limit counts the instance's whole run time, so extend it per solve
        h.setOptionValue("time_limit", h.getRunTime() + self.time_limit_s)
        t0 = time.perf_counter()
        h.run()
        elapsed = time.perf_counter() - t0
        status = h.getModelStatus()
        self.solves += 1
        try:
            return self._result(h, status, bounds, elapsed, sent, send_s)
        finally:
            if not self.resident:
                if h.getInfo().basis_validity == 1:
                    self._basis = h.getBasis()
                self._highs = None  # frees the instance; the model stays here

    def _result(self, h: highspy.Highs, status: Any, bounds: Bounds, elapsed: float,
                sent: int, send_s: float) -> Solution:  # fmt: skip
        """The solution of the solve just run, or the error that names why there is none."""
        if status != highspy.HighsModelStatus.kOptimal:
            text = h.modelStatusToString(status)
            group = ""
            if status == highspy.HighsModelStatus.kInfeasible and isinstance(self.model, CohortLP):
                group = f"; binding group: {binding_group(self.model, bounds)}"
            timed_out = status == highspy.HighsModelStatus.kTimeLimit
            if not timed_out:  # a timed-out solve keeps its basis: the next one goes on
                h.clearSolver()
            raise InfeasibleSchedule(
                f"HiGHS returned {text!r} after {elapsed:.2f} s{group}", timed_out=timed_out
            )
        col_value = h.getSolution().col_value  # a list: fromiter skips its type discovery
        values = np.fromiter(col_value, dtype=np.float64, count=len(col_value))
        if len(values) < self.model.n_cols:  # the columns taken out are at zero
            full = np.zeros(self.model.n_cols)
            full[self._cols] = values
            values = full
        info = h.getInfo()
        return Solution(values, float(info.objective_function_value), elapsed,
                        int(info.simplex_iteration_count), sent, send_s)  # fmt: skip

    def _send(self, bounds: Bounds) -> int:
        """Send HiGHS the bounds that differ from those it holds; how many were sent."""
        h, last = self._highs, self._sent
        assert h is not None
        self._sent = None  # until the new bounds are all in
        cols: npt.NDArray[np.int64]
        rows: npt.NDArray[np.int64]
        if last is None:  # what HiGHS holds is unknown: send everything
            cols = self._cols
            rows = self._rows
        else:
            cols = _changed(bounds.col_lower, bounds.col_upper, last.col_lower, last.col_upper)
            rows = _changed(bounds.row_lower, bounds.row_upper, last.row_lower, last.row_upper)
            # of those, the ones HiGHS holds, in its order (a set must increase)
            cols = cols[np.argsort(self._col_at[cols], kind="stable")]
            cols = cols[self._col_at[cols] >= 0]
            rows = rows[np.argsort(self._row_at[rows], kind="stable")]
            rows = rows[self._row_at[rows] >= 0]
        error = highspy.HighsStatus.kError
        if len(cols):
            lo, hi = bounds.col_lower[cols], bounds.col_upper[cols]
            at = self._col_at[cols].astype(np.int32)
            if h.changeColsBounds(len(cols), at, lo, hi) == error:
                raise InfeasibleSchedule("HiGHS rejected the column bounds of the plan")
        if len(rows):
            lo, hi = bounds.row_lower[rows], bounds.row_upper[rows]
            at = self._row_at[rows].astype(np.int32)
            if h.changeRowsBounds(len(rows), at, lo, hi) == error:  # type: ignore[attr-defined]
                raise InfeasibleSchedule("HiGHS rejected the row bounds of the plan")
        self._sent = _copy(bounds)
        return len(cols) + len(rows)

    def _reshape(self, bounds: Bounds) -> int:
        """Make HiGHS hold the columns ``bounds`` does not fix at zero and the rows they touch
        (a compact session, module docstring); how many columns and rows were put back.

        Columns are taken out only when :data:`COMPACT_SHARE` of those held are fixed at
        zero, and never while basic (nor rows while their slack is nonbasic), so the basis
        stays valid; a row stays while its bounds exclude zero (the activity of a row
        without columns), so an infeasible request stays infeasible.
        """
        h, model = self._highs, self.model
        assert h is not None
        if self._csc is None:
            self._csc = model.matrix.tocsc()
            self._csr = model.matrix.tocsr()
            pattern = self._csr.astype(bool).astype(np.int64)
            self._pattern = pattern
        held_col = self._col_at >= 0
        held_row = self._row_at >= 0
        want_col = (bounds.col_lower != 0.0) | (bounds.col_upper != 0.0)
        out = held_col & ~want_col
        if np.count_nonzero(out) >= COMPACT_SHARE * len(self._cols):
            status, basic = h.getBasicVariables()  # type: ignore[attr-defined]
            if status == highspy.HighsStatus.kOk and h.getInfo().basis_validity == 1:
                basic = np.asarray(basic, dtype=np.int64)
                basic_col = np.zeros(model.n_cols, dtype=bool)
                basic_row = np.zeros(model.n_rows, dtype=bool)
                basic_col[self._cols[basic[basic >= 0]]] = True
                basic_row[self._rows[-basic[basic < 0] - 1]] = True
                want_col |= held_col & basic_col
            else:  # no basis to keep: HiGHS starts afresh on the smaller model
                basic_row = np.ones(model.n_rows, dtype=bool)
        else:
            want_col |= held_col
            basic_row = np.zeros(model.n_rows, dtype=bool)
        touched = self._pattern @ want_col.astype(np.int64) > 0
        zero_out = (bounds.row_lower > 0.0) | (bounds.row_upper < 0.0)
        want_row = touched | zero_out | (held_row & ~basic_row)
        error = highspy.HighsStatus.kError
        drop_cols = np.flatnonzero(~want_col[self._cols]).astype(np.int32)
        drop_rows = np.flatnonzero(~want_row[self._rows]).astype(np.int32)
        if len(drop_cols) and h.deleteCols(len(drop_cols), drop_cols) == error:
            raise InfeasibleSchedule("HiGHS rejected taking out the plan's idle columns")
        if len(drop_rows) and h.deleteRows(len(drop_rows), drop_rows) == error:
            raise InfeasibleSchedule("HiGHS rejected taking out the plan's idle rows")
        cols = self._cols[want_col[self._cols]]
        rows = self._rows[want_row[self._rows]]
        self._col_at[:] = -1
        self._col_at[cols] = np.arange(len(cols))
        # rows put back, with their entries on the columns HiGHS holds (slacks basic)
        new_rows = np.flatnonzero(want_row & ~held_row)
        if len(new_rows):
            start, index, value = _entries(self._csr, new_rows, self._col_at)
            lo, hi = bounds.row_lower[new_rows], bounds.row_upper[new_rows]
            if h.addRows(len(new_rows), lo, hi, len(index), start, index, value) == error:
                raise InfeasibleSchedule("HiGHS rejected putting back the plan's rows")
            rows = np.concatenate([rows, new_rows])
        self._row_at[:] = -1
        self._row_at[rows] = np.arange(len(rows))
        # columns put back, with their entries on the rows HiGHS holds (nonbasic)
        new_cols = np.flatnonzero(want_col & ~held_col)
        if len(new_cols):
            start, index, value = _entries(self._csc, new_cols, self._row_at)
            lo, hi = bounds.col_lower[new_cols], bounds.col_upper[new_cols]
            cost = np.asarray(model.cost, dtype=np.float64)[new_cols]
            if h.addCols(len(new_cols), cost, lo, hi, len(index), start, index, value) == error:
                raise InfeasibleSchedule("HiGHS rejected putting back the plan's columns")
            cols = np.concatenate([cols, new_cols])
            self._col_at[cols] = np.arange(len(cols))
        self._cols, self._rows = cols, rows
        if self._sent is not None:  # what was put back went in with its bounds
            self._sent.col_lower[new_cols] = bounds.col_lower[new_cols]
            self._sent.col_upper[new_cols] = bounds.col_upper[new_cols]
            self._sent.row_lower[new_rows] = bounds.row_lower[new_rows]
            self._sent.row_upper[new_rows] = bounds.row_upper[new_rows]
        return len(new_cols) + len(new_rows)


def _changed(lower: FloatArray, upper: FloatArray, was_lower: FloatArray,
             was_upper: FloatArray) -> npt.NDArray[np.int64]:  # fmt: skip
    """Indices where either bound differs from what was sent (NaN: never sent)."""
    return np.flatnonzero((lower != was_lower) | (upper != was_upper)).astype(np.int64)


def _entries(
    matrix: Any, lines: npt.NDArray[np.int64], position: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray]:
    """The entries of ``lines`` (columns of a CSC, rows of a CSR matrix) on the other axis's
    lines that HiGHS holds, as HiGHS start, index and value arrays; ``position`` is where
    each line of the other axis sits in HiGHS (-1: not held)."""
    sub = matrix[lines] if matrix.format == "csr" else matrix[:, lines]
    at = position[sub.indices]
    keep = at >= 0
    line = np.repeat(np.arange(len(lines)), np.diff(sub.indptr))[keep]
    start = np.searchsorted(line, np.arange(len(lines))).astype(np.int32)
    value = np.asarray(sub.data[keep], dtype=np.float64)
    return start, at[keep].astype(np.int32), value


def _copy(b: Bounds) -> Bounds:
    return Bounds(b.col_lower.copy(), b.col_upper.copy(), b.row_lower.copy(), b.row_upper.copy())


def binding_group(model: CohortLP, bounds: Bounds) -> str:
    """Name the hard-constraint group that makes ``bounds`` infeasible.

    Relaxes, one group at a time, the import caps, the export caps and the storage limits
    and returns the first whose relaxation makes the model feasible (solved separately, cold).
    """
    o = model.offsets
    T, S = model.inputs.n_steps, model.inputs.n_substations
    groups = {
        "grid import limits (transformer or demand-response caps)": ("imp",),
        "grid export limits": ("exp",),
        "storage energy and power limits": ("soc", "ch", "dis"),
        "road (substation) ratings": ("road",),
    }
    for label, names in groups.items():
        lo, hi = bounds.col_lower.copy(), bounds.col_upper.copy()
        for name in names:
            sl = slice(o[name], o[name] + T * S)
            hi[sl] = np.inf
            if name == "soc":
                lo[sl] = -np.inf
        relaxed = Bounds(lo, hi, bounds.row_lower, bounds.row_upper)
        probe = quiet_highs()
        probe.setOptionValue("threads", 1)
        probe.setOptionValue("time_limit", PROBE_TIME_LIMIT_S)
        _pass(probe, model, relaxed)
        probe.run()
        if probe.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            log.warning("planner infeasible: %s bind", label)
            return label
    return "unknown (no single group's relaxation restores feasibility)"


def _pass(h: highspy.Highs, model: CohortLP | LinearModel, b: Bounds) -> object:
    """Hand the model to HiGHS in one call, straight from numpy arrays (no Python lists)."""
    A = model.matrix
    return h.passModel(
        model.n_cols, model.n_rows, A.nnz, int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), float(model.objective_offset), model.cost,
        b.col_lower, b.col_upper, b.row_lower, b.row_upper, A.indptr.astype(np.int32),
        A.indices.astype(np.int32), A.data, np.zeros(model.n_cols, dtype=np.int32),
    )  # fmt: skip
