"""The core of a cooperative game: its least core and nucleolus as linear programmes on HiGHS.

An allocation ``x`` of the grand coalition's worth ``v(N)`` is in the *core* when no coalition
gets less than it could earn alone: ``x(S) = Σ_{i∈S} x_i >= v(S)`` for every coalition ``S``.
The *excess* of ``S`` is ``e(S) = v(S) − x(S)`` (what ``S`` lacks); the core is where no excess
is positive, and it may be empty.

- The **least core** relaxes every coalition's claim by the smallest ``ε`` that leaves an
  allocation: ``min ε`` s.t. ``x(S) >= v(S) − ε`` for every proper coalition ``S``,
  ``x(N) = v(N)``. ``ε* <= 0`` exactly when the core is non-empty; the allocation the LP returns
  is one point of the least core (it need not be unique).
- The **nucleolus** is the unique allocation that minimises the largest excess, then the next
  largest, and so on (lexicographically). It is found by sequential LPs: each solves the least
  core of the coalitions not yet fixed, and fixes the coalitions whose constraint binds in
  every optimum (a positive dual value) at that level; a coalition whose worth the fixed ones
  already determine is dropped. It ends when the fixed coalitions determine ``x`` (at most
  ``n`` rounds). It lies in the least core, and in the core when the core is non-empty.

Worths and allocations are in the caller's unit (here the currency of a run's margin).
Coalitions are enumerated (``2^n``), so these are for games of up to a dozen players.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "CORE_RTOL",
    "CoreCheck",
    "LeastCore",
    "check_core",
    "coalitions",
    "core_tolerance",
    "least_core",
    "nucleolus",
]

CORE_RTOL = 1e-6
"""Tolerance of the core and individual-rationality checks, relative to the largest worth
``max(1, max_S |v(S)|)`` [-]: an excess up to it counts as none (the LPs solve to about 1e-9)."""

MAX_PLAYERS = 14
"""Largest game the LPs enumerate (``2^14`` coalitions)."""

Worth = Callable[[frozenset[str]], float]


def coalitions(players: Sequence[str]) -> list[frozenset[str]]:
    """Every coalition of ``players``, the empty one first, by size then in player order."""
    names = list(players)
    return [frozenset(c) for k in range(len(names) + 1) for c in itertools.combinations(names, k)]


def _worths(players: Sequence[str], value: Worth) -> dict[frozenset[str], float]:
    names = list(players)
    if len(set(names)) != len(names):
        raise ValueError(f"players must be distinct, got {names}")
    if not names:
        raise ValueError("a game needs at least one player")
    if len(names) > MAX_PLAYERS:
        raise ValueError(f"{len(names)} players: the core LPs enumerate at most {MAX_PLAYERS}")
    return {s: float(value(s)) for s in coalitions(names)}


def core_tolerance(worths: dict[frozenset[str], float]) -> float:
    """Absolute tolerance of the core checks for these worths (see :data:`CORE_RTOL`)."""
    return CORE_RTOL * max(1.0, max((abs(v) for v in worths.values()), default=0.0))


@dataclass(frozen=True)
class CoreCheck:
    """How an allocation fares against every coalition's worth.

    Attributes
    ----------
    in_core : bool
        Efficient (``x(N) = v(N)``) and no coalition's excess above the tolerance.
    individually_rational : bool
        Every player gets at least its stand-alone worth ``v({i})``.
    max_excess : float
        Largest excess ``v(S) − x(S)`` over the proper coalitions (positive: ``S`` gets less
        than it earns alone).
    worst_coalition : tuple of str
        A coalition with that excess (sorted members).
    tolerance : float
        Absolute tolerance used.
    """

    in_core: bool
    individually_rational: bool
    max_excess: float
    worst_coalition: tuple[str, ...]
    tolerance: float


def check_core(players: Sequence[str], value: Worth, allocation: dict[str, float]) -> CoreCheck:
    """Check ``allocation`` for core membership and individual rationality.

    Parameters
    ----------
    players : sequence of str
    value : callable
        Worth of each coalition.
    allocation : dict
        Player → amount (every player).
    """
    worths = _worths(players, value)
    names = list(players)
    tol = core_tolerance(worths)
    grand = frozenset(names)
    worst, worst_s = -np.inf, frozenset[str]()
    for s, v in worths.items():
        if not s or s == grand:
            continue
        excess = v - sum(allocation[p] for p in s)
        if excess > worst:
            worst, worst_s = excess, s
    if len(names) == 1:
        worst, worst_s = 0.0, grand
    efficient = abs(sum(allocation[p] for p in names) - worths[grand]) <= tol
    rational = all(allocation[p] >= worths[frozenset([p])] - tol for p in names)
    return CoreCheck(
        in_core=efficient and worst <= tol,
        individually_rational=rational,
        max_excess=float(worst),
        worst_coalition=tuple(sorted(worst_s)),
        tolerance=tol,
    )


@dataclass(frozen=True)
class LeastCore:
    """The least core's ``ε*`` and one allocation in it.

    Attributes
    ----------
    epsilon : float
        Smallest relaxation that leaves an allocation (``<= 0``: the core is non-empty).
    allocation : dict
        Player → amount, a point of the least core.
    core_empty : bool
        ``epsilon`` above the tolerance.
    """

    epsilon: float
    allocation: dict[str, float]
    core_empty: bool


def _incidence(players: list[str], sets: Sequence[frozenset[str]]) -> npt.NDArray[np.float64]:
    a = np.zeros((len(sets), len(players)))
    index = {p: i for i, p in enumerate(players)}
    for r, s in enumerate(sets):
        for p in s:
            a[r, index[p]] = 1.0
    return a


def _solve_level(
    players: list[str],
    worths: dict[frozenset[str], float],
    free: list[frozenset[str]],
    fixed: dict[frozenset[str], float],
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``min ε`` s.t. ``x(S) + ε >= v(S)`` (free), ``x(S) = v(S) − e_S`` (fixed), ``x(N) = v(N)``.

    Returns ``(ε*, x, |dual| of the free rows)``.
    """
    import highspy
    from scipy import sparse

    n = len(players)
    grand = frozenset(players)
    rows = [*free, *fixed, grand]
    a = np.zeros((len(rows), n + 1))
    a[:, :n] = _incidence(players, rows)
    a[: len(free), n] = 1.0
    lo = np.array(
        [worths[s] for s in free] + [worths[s] - e for s, e in fixed.items()] + [worths[grand]]
    )
    hi = np.concatenate([np.full(len(free), np.inf), lo[len(free) :]])
    cost = np.zeros(n + 1)
    cost[n] = 1.0
    m = sparse.csc_matrix(a)
    h = getattr(highspy, "_Highs", highspy.Highs)()  # the core class prints no banner
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    # HiGHS starts one thread pool per process, sized by the first solve; the planner's
    # solves ask for 1 thread, and an instance asking for another count fails to run
    h.setOptionValue("threads", 1)
    h.passModel(
        n + 1, len(rows), m.nnz, int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), 0.0, cost, np.full(n + 1, -np.inf),
        np.full(n + 1, np.inf), lo, hi, m.indptr.astype(np.int32), m.indices.astype(np.int32),
        m.data, np.zeros(n + 1, dtype=np.int32),
    )  # fmt: skip
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise ArithmeticError(f"least-core LP: HiGHS ended with {h.modelStatusToString(status)}")
    sol = h.getSolution()
    col = np.asarray(sol.col_value, dtype=np.float64)
    dual = np.abs(np.asarray(sol.row_dual, dtype=np.float64)[: len(free)])
    return float(col[n]), col[:n], dual


def least_core(players: Sequence[str], value: Worth) -> LeastCore:
    """The least core: ``min ε`` s.t. ``x(S) >= v(S) − ε`` for every proper coalition.

    Parameters
    ----------
    players : sequence of str
    value : callable
        Worth of each coalition (``value(frozenset()) == 0``).
    """
    names = list(players)
    worths = _worths(names, value)
    grand = frozenset(names)
    if len(names) == 1:
        return LeastCore(0.0, {names[0]: worths[grand]}, False)
    free = [s for s in worths if s and s != grand]
    eps, x, _ = _solve_level(names, worths, free, {})
    return LeastCore(
        epsilon=eps,
        allocation={p: float(x[i]) for i, p in enumerate(names)},
        core_empty=eps > core_tolerance(worths),
    )


def nucleolus(players: Sequence[str], value: Worth) -> dict[str, float]:
    """The nucleolus by sequential least-core LPs (see the module docstring).

    Parameters
    ----------
    players : sequence of str
    value : callable
        Worth of each coalition (``value(frozenset()) == 0``).

    Returns
    -------
    dict
        Player → amount; they sum to ``value(all players)``.
    """
    names = list(players)
    worths = _worths(names, value)
    grand = frozenset(names)
    n = len(names)
    if n == 1:
        return {names[0]: worths[grand]}
    free = [s for s in worths if s and s != grand]
    fixed: dict[frozenset[str], float] = {}
    tol = core_tolerance(worths)
    x = np.zeros(n)
    for _ in range(len(free)):
        eps, x, dual = _solve_level(names, worths, free, fixed)
        binding = [s for s, d in zip(free, dual, strict=True) if d > 1e-9]
        if not binding:  # numerically no dual: fix the coalitions at the level instead
            excess = [worths[s] - x[[names.index(p) for p in s]].sum() for s in free]
            binding = [s for s, e in zip(free, excess, strict=True) if e >= eps - tol]
        for s in binding:
            fixed[s] = eps
        basis = _incidence(names, [*fixed, grand])
        rank = int(np.linalg.matrix_rank(basis))
        if rank == n:
            break
        # coalitions whose x(S) the fixed ones already determine leave the programme
        free = [
            s
            for s in free
            if s not in fixed
            and int(np.linalg.matrix_rank(np.vstack([basis, _incidence(names, [s])]))) > rank
        ]
        if not free:
            break
    return {p: float(x[i]) for i, p in enumerate(names)}
