"""Solve a :class:`~ersgrid.optimize.model.CohortLP` with HiGHS, cold once and warm after.

The matrix and costs go to HiGHS once (:meth:`HighsSession.__init__`); each later solve
sends only the column and row bounds that differ from those the session last sent, so a
re-plan costs what changed, and HiGHS restarts from the basis of the previous solve.
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
    """

    def __init__(
        self, model: CohortLP | LinearModel, time_limit_s: float = 60.0, threads: int = 1
    ) -> None:
        self.model = model
        h = quiet_highs()
        h.setOptionValue("threads", int(threads))
        self.time_limit_s = float(time_limit_s)
        first = model.bounds()
        status = _pass(h, model, first)
        if status == highspy.HighsStatus.kError:
            raise InfeasibleSchedule("HiGHS rejected the planning model (passModel failed)")
        self._highs = h
        self._sent: Bounds | None = _copy(first)
        self.solves = 0

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
        h = self._highs
        t0 = time.perf_counter()
        sent = self._send(bounds)
        send_s = time.perf_counter() - t0
        # HiGHS's time limit counts the instance's whole run time, so extend it per solve
        h.setOptionValue("time_limit", h.getRunTime() + self.time_limit_s)
        t0 = time.perf_counter()
        h.run()
        elapsed = time.perf_counter() - t0
        status = h.getModelStatus()
        self.solves += 1
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
        info = h.getInfo()
        return Solution(values, float(info.objective_function_value), elapsed,
                        int(info.simplex_iteration_count), sent, send_s)  # fmt: skip

    def _send(self, bounds: Bounds) -> int:
        """Send HiGHS the bounds that differ from those it holds; how many were sent."""
        h, last = self._highs, self._sent
        self._sent = None  # until the new bounds are all in
        if last is None:  # what HiGHS holds is unknown: send everything
            cols = np.arange(len(bounds.col_lower), dtype=np.int32)
            rows = np.arange(len(bounds.row_lower), dtype=np.int32)
        else:
            cols = _changed(bounds.col_lower, bounds.col_upper, last.col_lower, last.col_upper)
            rows = _changed(bounds.row_lower, bounds.row_upper, last.row_lower, last.row_upper)
        error = highspy.HighsStatus.kError
        if len(cols):
            lo, hi = bounds.col_lower[cols], bounds.col_upper[cols]
            if h.changeColsBounds(len(cols), cols, lo, hi) == error:
                raise InfeasibleSchedule("HiGHS rejected the column bounds of the plan")
        if len(rows):
            lo, hi = bounds.row_lower[rows], bounds.row_upper[rows]
            if h.changeRowsBounds(len(rows), rows, lo, hi) == error:  # type: ignore[attr-defined]
                raise InfeasibleSchedule("HiGHS rejected the row bounds of the plan")
        self._sent = _copy(bounds)
        return len(cols) + len(rows)


def _changed(lower: FloatArray, upper: FloatArray, was_lower: FloatArray,
             was_upper: FloatArray) -> npt.NDArray[np.int32]:  # fmt: skip
    """Indices where either bound differs from what was sent (NaN: never sent)."""
    return np.flatnonzero((lower != was_lower) | (upper != was_upper)).astype(np.int32)


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
