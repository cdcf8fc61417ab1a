"""The cohort LP split into groups of adjacent substations, coordinated by Gauss–Seidel sweeps.

On a national corridor one :class:`~ersgrid.optimize.model.CohortLP` over every substation
is too slow to re-solve each planning step. :class:`DecomposedLP` cuts the corridor into
groups of adjacent substations and gives each group its own ``CohortLP`` (same class, same
rows): the exposures at its substations, the cohorts that drive through it, its sites'
loads, limits and batteries. Each group has its own :class:`HighsSession`, warm from its
last basis, whether its HiGHS instance stays between solves or is built again at each
(:class:`LocalGroups` ``resident``).

What couples the groups, and how each group sees it while the other groups' plans are
held fixed (block-coordinate descent, one group after another):

- a cohort's **energy**: its vehicles charge in several groups. With the others' net
  charge ``O(c, t)`` accumulated along the trip, the group's cumulative charge at its step
  ``t`` is bounded by ``min (room(c, t') − O(c, t'))`` over the steps ``t'`` from ``t`` to
  the cohort's next step in the group (room = the monolithic model's "not past full"
  bound; exact, also for V2G cohorts whose cumulative charge falls), its exit need is
  lowered by the others' total charge, a V2G cohort's surplus by the others' discharge;
- the **demand charge**: the corridor's summed import; the group's ``peak`` rows become
  ``Σ own import − peak ≤ −(others' import)``, so its peak column is the corridor's peak.

Substation import and export caps, ratings and batteries belong to one substation and so to
the groups holding it. Every group solve therefore keeps the whole plan feasible for the
monolithic model (the first sweep starts from zero charge elsewhere, or from a previous
plan made feasible for the new bounds: :meth:`DecomposedLP.feasible_start`) and can only
lower the monolithic objective; sweeps alternate direction (along the corridor, then back) and stop
when a sweep gains less than ``tolerance`` of the objective.

Groups may **overlap** (:func:`substation_groups`' ``overlap``): a group solve then re-plans
its neighbours' shared substations too. Without overlap, block-coordinate descent stops
short of the optimum where the better plan needs two groups to move at once — e.g. a V2G
cohort filled from cheap storage upstream and discharged where import is dear downstream,
while another cohort takes the downstream power it leaves: each group alone sees a tie.
On shin-tomei at daytime steps, disjoint groups of two substations end 0.3–1.8 % above the
monolithic objective; groups of three overlapping by two within 0.07 % (and exact at night).
Prices on the coupling rows were tried as the coordination signal instead (the reduced
costs of the cumulative-charge bounds, the duals of the exit-energy rows, added to the
other groups' charge costs): they were zero or moved nothing at those points (degenerate:
the exposures' caps carry the duals), so they are not used.

By default the groups of one sweep run one after another (Gauss–Seidel: each uses its
predecessors' fresh plans). ``scheme="jacobi"`` solves every group against the previous
sweep's plan, all at once on a :class:`GroupExecutor` (e.g. Dask workers,
:mod:`ersgrid.optimize.parallel`). Each plan "x with only group g changed" is feasible for
the monolithic model, so their mean ``x + (1/G)·Σ_g (x_g − x)`` is too (convex feasible set)
and costs at most the mean of theirs (linear objective). Longer steps toward the per-column
mean of the groups' plans are tried first and kept only if they pass the monolithic rows and
columns (:meth:`DecomposedLP.feasible`) and cost no more. The first sweep starts from blocks
not yet set, so it takes the per-column mean (a convex combination of plans that each keep
every substation's own rows), checked the same way; if it fails, that sweep runs
Gauss–Seidel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ersgrid.errors import InfeasibleSchedule
from ersgrid.optimize.cohorts import Exposure
from ersgrid.optimize.model import BLOCKS, Bounds, CohortLP, PlanInputs
from ersgrid.optimize.request import PlanRequest
from ersgrid.optimize.solver import HighsSession
from ersgrid.optimize.storage import StorageArrays

__all__ = [
    "SCHEMES", "DecomposedLP", "DecomposedSolution", "GroupExecutor", "GroupJob", "GroupOutcome",
    "LocalGroups", "solve_group", "substation_groups",
]  # fmt: skip

GROUP_PRESOLVE = False
"""Whether HiGHS presolves a group's cold solve: not, since on xinjiang-g30 a daytime group's
cold solve took 2.7 s CPU without presolve against 5.0 s with it (same objective), and the
memory presolve took stayed with the process after the solve."""

SCHEMES = ("gauss-seidel", "jacobi")
"""How a sweep coordinates the groups (see the module text)."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def substation_groups(position_km: FloatArray, group_size: int, overlap: int = 0) -> list[IntArray]:
    """Substations cut into groups of ``group_size`` neighbours along the road.

    Parameters
    ----------
    position_km : ndarray [km]
        Road position of each substation.
    group_size : int
        Substations per group (fewer if the corridor has fewer).
    overlap : int
        Substations each group shares with the next (``0 ≤ overlap < group_size``). The last
        group ends at the corridor's end, so it may overlap its predecessor by more.

    Returns
    -------
    list of ndarray of int64
        Substation indices of each group, in road order, every substation in at least one.
    """
    if group_size < 1 or not 0 <= overlap < group_size:
        raise ValueError(
            f"group_size must be at least 1 and overlap in 0 .. group_size - 1, got "
            f"group_size={group_size}, overlap={overlap}"
        )
    order = np.argsort(position_km, kind="stable").astype(np.int64)
    n = len(order)
    size = min(group_size, n)
    starts = list(range(0, n - size + 1, group_size - overlap))
    if starts[-1] + size < n:
        starts.append(n - size)
    return [np.sort(order[a : a + size]) for a in starts]


def _segment_start(key: IntArray) -> IntArray:
    """Index of the first entry of each entry's run of equal ``key`` (``key`` sorted)."""
    new = np.ones(len(key), dtype=bool)
    new[1:] = key[1:] != key[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(len(key)), 0))


def _segment_cumsum(values: FloatArray, start: IntArray) -> FloatArray:
    """Running sum of ``values`` restarting at each run (``start`` from :func:`_segment_start`)."""
    total = np.cumsum(values)
    return total - total[start] + values[start]


def _min_until_next(values: FloatArray, starts: IntArray, at: IntArray) -> FloatArray:
    """Minimum of ``values`` from each index of ``at`` up to the next index of ``at`` or of
    ``starts``, whichever comes first (``at`` sorted, ``starts`` the first index of each run)."""
    if len(at) == 0:
        return np.zeros(0)
    cuts = np.union1d(at, starts)
    mins = np.minimum.reduceat(values, cuts)
    return np.asarray(mins[np.searchsorted(cuts, at)], dtype=np.float64)


@dataclass(frozen=True)
class DecomposedSolution:
    """One decomposed solve, as a solution of the monolithic model.

    Attributes
    ----------
    values : ndarray
        Column values of the monolithic :class:`CohortLP`.
    objective : float [currency]
        The monolithic model's objective at ``values``.
    solve_s : float [s]
        HiGHS time summed over every group solve.
    sweeps : int
        Sweeps over the groups.
    group_solve_s : list of float [s]
        HiGHS time of each group solve, in order.
    iterations : int
        Simplex iterations over every group solve.
    skipped : int
        Group solves that hit the time limit after the group had already solved in this
        call: the group kept its plan of the earlier sweep (still feasible, see the module
        text) instead of failing the whole solve.
    """

    values: FloatArray
    objective: float
    solve_s: float
    sweeps: int
    group_solve_s: list[float]
    iterations: int
    skipped: int = 0


@dataclass(frozen=True)
class GroupJob:
    """One group solve to run: the group's index, its bounds and time limit [s]."""

    group: int
    bounds: Bounds
    time_limit_s: float


@dataclass(frozen=True)
class GroupOutcome:
    """One group solve's result: column values of the group's model (``None`` if it
    failed), HiGHS time [s], simplex iterations, and for a failure its message and whether
    it stopped at the time limit."""

    values: FloatArray | None
    solve_s: float
    iterations: int
    error: str = ""
    timed_out: bool = False


def solve_group(session: HighsSession, job: GroupJob) -> GroupOutcome:
    """Run ``job`` on the group's warm ``session`` (in-process or on a worker)."""
    session.set_time_limit(job.time_limit_s)
    try:
        sol = session.solve_bounds(job.bounds)
    except InfeasibleSchedule as err:
        return GroupOutcome(None, 0.0, 0, str(err), err.timed_out)
    return GroupOutcome(sol.values, sol.solve_s, sol.iterations)


class GroupExecutor(Protocol):
    """Where the groups' models live and are solved: :class:`LocalGroups` in-process, or
    :class:`~ersgrid.optimize.parallel.DaskGroups` on Dask workers."""

    def start(self, models: Sequence[CohortLP], time_limit_s: float) -> None:
        """Hold ``models`` (one per group, replacing any held before), each with its own
        warm HiGHS session."""

    def solve(self, jobs: Sequence[GroupJob]) -> list[GroupOutcome]:
        """Run ``jobs`` (at most one per group), possibly at once; outcomes in job order."""
        ...


class LocalGroups:
    """The groups solved in this process, one after another.

    Parameters
    ----------
    resident : bool
        Keep each group's HiGHS instance between its solves (:class:`HighsSession`
        ``resident``). False: one instance at a time, each group's rebuilt warm from its
        basis at its next solve (less memory, a rebuild per group solve).
    """

    def __init__(self, resident: bool = True) -> None:
        self.sessions: list[HighsSession] = []
        self.resident = bool(resident)

    def start(self, models: Sequence[CohortLP], time_limit_s: float) -> None:
        """Build one HiGHS session per group model."""
        self.sessions = []  # free the old instances first (peak memory)
        self.sessions = [
            HighsSession(m, time_limit_s=time_limit_s, presolve=GROUP_PRESOLVE,
                         resident=self.resident)
            for m in models
        ]  # fmt: skip

    def solve(self, jobs: Sequence[GroupJob]) -> list[GroupOutcome]:
        """Run ``jobs`` one after another."""
        return [solve_group(self.sessions[j.group], j) for j in jobs]


@dataclass
class _Stats:
    """HiGHS time [s] per group solve, iterations and skipped solves of one sweep."""

    times: list[float] = field(default_factory=list)
    iterations: int = 0
    skipped: int = 0


class _Group:
    """One group's model, session and index maps into the monolithic model."""

    def __init__(self, full: CohortLP, subs: IntArray, index: int) -> None:
        self.index = index
        ex = full.exposure
        inp = full.inputs
        S = inp.n_substations
        self.subs = subs
        local = np.full(S, -1, dtype=np.int64)
        local[subs] = np.arange(len(subs))
        self.x = np.flatnonzero(local[ex.substation] >= 0)
        self.cohorts = np.unique(ex.cohort[self.x])
        gex = Exposure(
            cohort=np.searchsorted(self.cohorts, ex.cohort[self.x]),
            step=ex.step[self.x],
            substation=local[ex.substation[self.x]],
            max_kwh=ex.max_kwh[self.x],
            efficiency=ex.efficiency[self.x],
        )
        st = inp.storage
        ginp = PlanInputs(
            step_h=inp.step_h,
            price_per_kwh=inp.price_per_kwh,
            co2_kg_per_kwh=inp.co2_kg_per_kwh,
            other_load_kw=inp.other_load_kw[:, subs],
            renewable_kw=inp.renewable_kw[:, subs],
            import_limit_kw=inp.import_limit_kw[:, subs],
            export_limit_kw=inp.export_limit_kw[:, subs],
            road_rating_kw=inp.road_rating_kw[subs],
            weights=inp.weights,
            storage=StorageArrays(
                st.energy_min_kwh[subs], st.energy_max_kwh[subs], st.initial_kwh[subs],
                st.power_kw[subs], st.charge_efficiency, st.discharge_efficiency,
            ),
            network=None if inp.network is None else inp.network.take(subs),
        )  # fmt: skip
        self.model = CohortLP(
            full.cohorts.take(self.cohorts), gex, ginp, full.storage_value_per_kwh,
            full.time_preference,
        )  # fmt: skip
        m = self.model
        T = inp.n_steps
        full_key = full.full_cohort * T + full.full_step
        self.full = np.searchsorted(full_key, self.cohorts[m.full_cohort] * T + m.full_step)
        self.u = np.searchsorted(full.u_cohort, self.cohorts[m.u_cohort])
        self.y = np.searchsorted(full.y_x, self.x[m.y_x])
        self.yc = np.searchsorted(full.y_cohort, self.cohorts[m.y_cohort])
        self.cells = (np.arange(T)[:, None] * S + subs[None, :]).ravel()


class DecomposedLP:
    """A :class:`CohortLP` solved group by group (see the module text).

    Parameters
    ----------
    model : CohortLP
        The monolithic model; it is built (arrays only) but never handed to a solver.
    groups : list of ndarray of int64
        Substation indices of each group (e.g. :func:`substation_groups`), each once.
    time_limit_s : float [s]
        Per group solve.
    cold_time_limit_s : float [s]
        Per group for its first (cold) solve; default ``time_limit_s``.
    max_sweeps : int
        Most sweeps per solve.
    tolerance : float [-]
        Stop when a sweep lowers the objective by less than this share of its magnitude.
    scheme : {"gauss-seidel", "jacobi"}
        How a sweep coordinates the groups (module text).
    executor : GroupExecutor, optional
        Where the groups' models live and solve; default :class:`LocalGroups` (in-process).
    """

    def __init__(
        self,
        model: CohortLP,
        groups: list[IntArray],
        time_limit_s: float = 30.0,
        max_sweeps: int = 4,
        tolerance: float = 1e-4,
        cold_time_limit_s: float | None = None,
        scheme: str = "gauss-seidel",
        executor: GroupExecutor | None = None,
    ) -> None:
        S = model.inputs.n_substations
        every = np.unique(np.concatenate(groups)) if groups else np.zeros(0, dtype=np.int64)
        if not np.array_equal(every, np.arange(S)):
            raise ValueError(f"groups must cover each of the {S} substations")
        if max_sweeps < 1:
            raise ValueError(f"max_sweeps must be at least 1, got {max_sweeps}")
        self.model = model
        self.max_sweeps = int(max_sweeps)
        self.tolerance = float(tolerance)
        self.time_limit_s = float(time_limit_s)
        self.cold_time_limit_s = float(
            time_limit_s if cold_time_limit_s is None else cold_time_limit_s
        )
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        self.scheme = scheme
        self.groups = [
            _Group(model, np.asarray(g, dtype=np.int64), i) for i, g in enumerate(groups)
        ]
        self._executor: GroupExecutor = LocalGroups() if executor is None else executor
        self._executor.start([g.model for g in self.groups], self.time_limit_s)
        self._solves = [0] * len(self.groups)
        self._row_of_x = model.row_of_x
        self._start = _segment_start(model.full_cohort)
        self._cohort_starts = np.flatnonzero(self._start == np.arange(len(self._start)))
        self._last = model.last_of_cohort

    def set_time_limit(self, seconds: float) -> None:
        """Change the per-group-solve time limit [s] (of the solves after the first)."""
        self.time_limit_s = float(seconds)

    def _net(self, x: FloatArray, y: FloatArray, group: _Group | None = None) -> FloatArray:
        """Net charge (charge − V2G discharge) per (cohort, step) of the monolithic model
        [kWh], of every group or of ``group`` only."""
        m = self.model
        n_f = len(m.full_cohort)
        ix = np.arange(len(x)) if group is None else group.x
        iy = np.arange(len(y)) if group is None else group.y
        net = np.bincount(self._row_of_x[ix], weights=x[ix], minlength=n_f)
        net -= np.bincount(self._row_of_x[m.y_x[iy]], weights=y[iy], minlength=n_f)
        return np.asarray(net, dtype=np.float64)

    def solve(
        self, request: PlanRequest | None = None, start: FloatArray | None = None
    ) -> DecomposedSolution:
        """Solve ``request`` (the same request :meth:`CohortLP.bounds` and
        :meth:`HighsSession.solve` take) group by group; each group solves
        :meth:`PlanRequest.restrict` of it, with the coupling of the module text.

        Parameters
        ----------
        request : PlanRequest, optional
            Default: the whole model on its own data.
        start : ndarray, optional
            Column values of the monolithic model to start the first sweep from, typically
            the previous re-plan's solution (the same model, so the same columns). It is
            made feasible for the new bounds first (:meth:`feasible_start`); default: zero
            charge everywhere.

        Raises
        ------
        InfeasibleSchedule
            If a group's solve fails (the message names the group's binding constraints),
            except a time-out of a group that has already solved in this call (it keeps that
            plan; counted in ``skipped``).
        """
        m = self.model
        T, S = m.inputs.n_steps, m.inputs.n_substations
        req = PlanRequest() if request is None else request
        peak_floor_kw = req.peak_floor_kw
        full_b = m.bounds(req)
        o = m.offsets
        room = full_b.col_upper[o["cum"] : o["cum"] + len(m.full_cohort)]
        if start is None:
            x = np.zeros(len(m.exposure))
            y = np.zeros(len(m.y_x))
            cells = {name: np.zeros(T * S) for name in BLOCKS}
        else:
            x, y, cells = self.feasible_start(start, full_b)
        values = self._assemble(x, y, cells, full_b, peak_floor_kw)
        objective = float(m.cost @ values)
        times: list[float] = []
        iterations = 0
        sweeps = 0
        skipped = 0
        solved: set[int] = set()
        jacobi = self.scheme == "jacobi"
        verified = False  # the current plan passed the monolithic check (Jacobi only)
        for sweep in range(self.max_sweeps):
            stats = _Stats()
            outcome = None
            if jacobi and (verified or sweep == 0):
                outcome = self._jacobi_sweep(
                    req, room, x, y, cells, full_b, verified, solved, stats
                )
            if outcome is not None:
                x, y, cells = outcome
                verified = True
            else:
                # a Gauss–Seidel sweep: also Jacobi's first one when the averaged plan of a
                # start whose blocks are not yet set fails the monolithic check
                order = self.groups if sweep % 2 == 0 else self.groups[::-1]
                for g in order:
                    gb = self._group_bounds(g, req, room, x, y, cells)
                    result = self._executor.solve([self._job(g, gb)])[0]
                    if self._accept(g, result, solved, stats):
                        assert result.values is not None
                        self._take(g, result.values, x, y, cells)
                verified = jacobi and self.feasible(
                    self._assemble(x, y, cells, full_b, peak_floor_kw), full_b
                )
            times += stats.times
            iterations += stats.iterations
            skipped += stats.skipped
            sweeps += 1
            values = self._assemble(x, y, cells, full_b, peak_floor_kw)
            new = float(m.cost @ values)
            gain = objective - new
            objective = new
            if sweep > 0 and gain <= self.tolerance * max(abs(new), 1.0):
                break
        return DecomposedSolution(values, objective, float(sum(times)), sweeps, times,
                                  iterations, skipped)  # fmt: skip

    def _group_bounds(
        self,
        g: _Group,
        req: PlanRequest,
        room: FloatArray,
        x: FloatArray,
        y: FloatArray,
        cells: dict[str, FloatArray],
    ) -> Bounds:
        """Group ``g``'s bounds with the other groups' plans ``x, y, cells`` held fixed."""
        m = self.model
        T, S = m.inputs.n_steps, m.inputs.n_substations
        gm = g.model
        gb = gm.bounds(req.restrict(g.subs, g.cohorts))
        others = self._net(x, y) - self._net(x, y, g)
        done = _segment_cumsum(others, self._start)
        # the group's cumulative charge at its step t holds until its next step of the
        # cohort: the room left by the others over those steps bounds it
        left = _min_until_next(room - done, self._cohort_starts, g.full)
        go = gm.offsets
        cum = slice(go["cum"], go["cum"] + len(gm.full_cohort))
        hi = np.minimum(gb.col_upper[cum], left)
        gb.col_upper[cum] = np.maximum(hi, gb.col_lower[cum])
        gr = gm.row_offsets
        short = slice(gr["short"], gr["short"] + len(gm.u_cohort))
        gb.row_lower[short] -= done[self._last[g.u]]
        if len(gm.y_cohort):
            y_other = y.copy()
            y_other[g.y] = 0.0
            ycoh = np.searchsorted(m.y_cohort, m.exposure.cohort[m.y_x])
            y_sum = np.bincount(ycoh, weights=y_other, minlength=len(m.y_cohort))
            v2g = slice(gr["v2gcap"], gr["v2gcap"] + len(gm.y_cohort))
            gb.row_upper[v2g] = np.maximum(gb.row_upper[v2g] - y_sum[g.yc], 0.0)
        imp = cells["imp"].reshape(T, S)
        other_imp = imp.sum(axis=1) - imp[:, g.subs].sum(axis=1)
        gb.row_upper[gr["peak"] : gr["peak"] + T] = -other_imp
        if m.inputs.n_elements:
            # the network rows of every element, less the other groups' draw
            rows = slice(gr["network"], gr["network"] + T * m.inputs.n_elements)
            others_act = self._network_activity(cells, g)
            gb.row_lower[rows] -= others_act
            gb.row_upper[rows] -= others_act
        return gb

    def _job(self, g: _Group, bounds: Bounds) -> GroupJob:
        cold = self._solves[g.index] == 0
        self._solves[g.index] += 1
        return GroupJob(g.index, bounds, self.cold_time_limit_s if cold else self.time_limit_s)

    def _accept(self, g: _Group, result: GroupOutcome, solved: set[int], stats: _Stats) -> bool:
        """Whether group ``g``'s solve gave a plan to take; raise if it failed in a way the
        plan cannot absorb."""
        if result.values is None:
            # the group's plan of an earlier sweep of this call is still feasible (every
            # later group solve was bounded by it): keep it and go on
            if not result.timed_out or g.index not in solved:
                raise InfeasibleSchedule(
                    f"group {g.index} (substations {g.subs.tolist()}): {result.error}",
                    timed_out=result.timed_out,
                )
            stats.skipped += 1
            return False
        solved.add(g.index)
        stats.times.append(result.solve_s)
        stats.iterations += result.iterations
        return True

    def _take(
        self, g: _Group, sol: FloatArray, x: FloatArray, y: FloatArray,
        cells: dict[str, FloatArray],
    ) -> None:  # fmt: skip
        """Write group ``g``'s solution ``sol`` into the monolithic plan ``x, y, cells``."""
        gm = g.model
        go = gm.offsets
        x[g.x] = sol[: len(gm.exposure)]
        y[g.y] = sol[go["y"] :]
        for name in BLOCKS:
            cells[name][g.cells] = sol[go[name] : go[name] + len(g.cells)]

    def _jacobi_sweep(
        self,
        req: PlanRequest,
        room: FloatArray,
        x: FloatArray,
        y: FloatArray,
        cells: dict[str, FloatArray],
        bounds: Bounds,
        verified: bool,
        solved: set[int],
        stats: _Stats,
    ) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]] | None:
        """One Jacobi sweep from the plan ``x, y, cells``: the accepted plan, or ``None``
        when ``verified`` is false (the plan's blocks not yet set) and the groups' averaged
        plan fails the monolithic check (the caller then sweeps Gauss–Seidel)."""
        m = self.model
        jobs = [self._job(g, self._group_bounds(g, req, room, x, y, cells)) for g in self.groups]
        results = self._executor.solve(jobs)
        # per column: the sum of the groups' new values and how many groups hold it
        sx, nx = np.zeros_like(x), np.zeros_like(x)
        sy, ny = np.zeros_like(y), np.zeros_like(y)
        sc = {name: np.zeros_like(cells[name]) for name in BLOCKS}
        nc = np.zeros_like(cells["imp"])
        for g, result in zip(self.groups, results, strict=True):
            if not self._accept(g, result, solved, stats):
                continue  # x_g = x: adds nothing to either combination
            assert result.values is not None
            gx, gy = x.copy(), y.copy()
            gcells = {name: cells[name].copy() for name in BLOCKS}
            self._take(g, result.values, gx, gy, gcells)
            sx[g.x] += gx[g.x]
            nx[g.x] += 1.0
            sy[g.y] += gy[g.y]
            ny[g.y] += 1.0
            for name in BLOCKS:
                sc[name][g.cells] += gcells[name][g.cells]
            nc[g.cells] += 1.0
        G = float(len(self.groups))

        def average() -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
            # each column the mean of the groups that re-planned it: every substation's own
            # rows hold (a convex combination of plans that keep them)
            def mean(total: FloatArray, count: FloatArray, old: FloatArray) -> FloatArray:
                return np.where(count > 0, total / np.maximum(count, 1.0), old)

            return (mean(sx, nx, x), mean(sy, ny, y),
                    {name: mean(sc[name], nc, cells[name]) for name in BLOCKS})  # fmt: skip

        def step(
            t: float, to: tuple[FloatArray, FloatArray, dict[str, FloatArray]]
        ) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
            px, py, pc = to
            moved = {name: cells[name] + t * (pc[name] - cells[name]) for name in BLOCKS}
            return x + t * (px - x), y + t * (py - y), moved

        def check(
            plan: tuple[FloatArray, FloatArray, dict[str, FloatArray]],
        ) -> tuple[bool, float]:
            v = self._assemble(*plan, bounds, req.peak_floor_kw)
            return self.feasible(v, bounds), float(m.cost @ v)

        full = average()
        if not verified:
            ok, _ = check(full)
            return full if ok else None
        _, before = check((x, y, cells))
        # the provable step: x + (1/G)·Σ_g (x_g − x), the mean of G plans that are each
        # feasible for the monolithic model (one group changed) with objective at most
        # the mean of theirs
        proof = (x + (sx - nx * x) / G, y + (sy - ny * y) / G,
                 {name: cells[name] + (sc[name] - nc * cells[name]) / G
                  for name in BLOCKS})  # fmt: skip
        # longer steps toward the groups' averaged plan, kept only if they pass the check
        t = 1.0
        while t > 1.0 / G:
            plan = step(t, full)
            ok, value = check(plan)
            if ok and value <= before:
                return plan
            t /= 2.0
        ok, value = check(proof)
        if ok and value <= before:
            return proof
        return x, y, cells  # nothing accepted: the sweep gains nothing and the solve stops

    def feasible(self, values: FloatArray, bounds: Bounds, tolerance: float = 1e-6) -> bool:
        """Whether ``values`` is feasible for the monolithic model under ``bounds``: every
        column and row within its bounds to ``tolerance`` of the bound's magnitude, rows
        also of the magnitude of their terms."""
        m = self.model
        cols = 1.0 + np.abs(np.where(np.isfinite(values), values, 0.0))
        if not np.all(np.isfinite(values)):
            return False
        if np.any(values < bounds.col_lower - tolerance * cols) or np.any(
            values > bounds.col_upper + tolerance * cols
        ):
            return False
        act = m.matrix @ values
        scale = 1.0 + abs(m.matrix) @ np.abs(values)
        return bool(
            np.all(act >= bounds.row_lower - tolerance * scale)
            and np.all(act <= bounds.row_upper + tolerance * scale)
        )

    def feasible_start(
        self, values: FloatArray, bounds: Bounds
    ) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
        """A previous solution made a feasible start for a solve under ``bounds``.

        Charge and V2G columns are clipped to their new bounds (zero outside the window);
        a cohort whose clipped plan still breaks one of its own rows under the new counts and
        energies (charge past full, V2G beyond its surplus, charge plus V2G beyond its
        receivers) starts from zero instead, which is always feasible. Charge of different
        cohorts never shares a row, so the start is feasible for every cohort row of the
        monolithic model and Gauss–Seidel keeps it so. The (step, substation) blocks start
        at zero, as in a cold start: each group solve replaces its own, and their only use
        before that is the other groups' import on the peak rows. (Starting from the old
        imports was tried: each group then sees the corridor's peak already set by the
        others' old plans, and the sweeps stop at that peak — 4 % above the cold start's
        objective on shin-tomei 1 h after the first plan.)

        Returns
        -------
        x, y : ndarray [kWh]
            Charge and V2G columns.
        cells : dict of str to ndarray
            The (step, substation) blocks, flattened.
        """
        m = self.model
        T, S = m.inputs.n_steps, m.inputs.n_substations
        o, r = m.offsets, m.row_offsets
        n_x, n_y = len(m.exposure), len(m.y_x)
        x = np.clip(values[:n_x], bounds.col_lower[:n_x], bounds.col_upper[:n_x])
        y = np.clip(values[o["y"] :], bounds.col_lower[o["y"] :], bounds.col_upper[o["y"] :])
        cum = _segment_cumsum(self._net(x, y), self._start)
        room = bounds.col_upper[o["cum"] : o["cum"] + len(m.full_cohort)]
        tol = 1e-9 * (1.0 + np.abs(np.where(np.isfinite(room), room, 0.0)))
        bad = np.zeros(len(m.cohorts), dtype=bool)
        bad[m.full_cohort[cum > room + tol]] = True
        if n_y:
            ycoh = np.searchsorted(m.y_cohort, m.exposure.cohort[m.y_x])
            y_sum = np.bincount(ycoh, weights=y, minlength=len(m.y_cohort))
            surplus = bounds.row_upper[r["v2gcap"] : r["v2gcap"] + len(m.y_cohort)]
            bad[m.y_cohort[y_sum > surplus + 1e-9 * (1.0 + surplus)]] = True
            recv = bounds.row_upper[r["receiver"] : r["receiver"] + n_y]
            both = x[m.y_x] + y
            bad[m.exposure.cohort[m.y_x[both > recv + 1e-9 * (1.0 + recv)]]] = True
        x[bad[m.exposure.cohort]] = 0.0
        if n_y:
            y[bad[m.exposure.cohort[m.y_x]]] = 0.0
        cells = {name: np.zeros(T * S) for name in BLOCKS}
        return x, y, cells

    def _network_activity(
        self, cells: dict[str, FloatArray], group: _Group | None = None
    ) -> FloatArray:
        """``Σ row_coef · (imp − exp)`` of rows ``network`` [kW-eq], flattened, over every
        substation or those outside ``group``."""
        m = self.model
        net = m.inputs.network
        T, S = m.inputs.n_steps, m.inputs.n_substations
        assert net is not None
        draw = (cells["imp"] - cells["exp"]).reshape(T, S)
        if group is not None:
            draw = draw.copy()
            draw[:, group.subs] = 0.0
        return np.asarray(np.einsum("tes,ts->te", net.row_coef, draw).ravel(), dtype=np.float64)

    def _assemble(
        self,
        x: FloatArray,
        y: FloatArray,
        cells: dict[str, FloatArray],
        bounds: Bounds,
        peak_floor_kw: float,
    ) -> FloatArray:
        """The monolithic model's column vector of the groups' plans."""
        m = self.model
        o, r = m.offsets, m.row_offsets
        T, S = m.inputs.n_steps, m.inputs.n_substations
        v = np.zeros(m.n_cols)
        v[: len(x)] = x
        cum = _segment_cumsum(self._net(x, y), self._start)
        v[o["cum"] : o["cum"] + len(cum)] = cum
        need = bounds.row_lower[r["short"] : r["short"] + len(m.u_cohort)]
        with np.errstate(invalid="ignore"):
            u = np.where(np.isfinite(need), np.maximum(need - cum[self._last], 0.0), 0.0)
        v[o["u"] : o["u"] + len(u)] = u
        for name in BLOCKS:
            v[o[name] : o[name] + T * S] = cells[name]
        v[o["peak"]] = max(peak_floor_kw, float(cells["imp"].reshape(T, S).sum(axis=1).max()))
        n_net = T * m.inputs.n_elements
        if n_net:
            # the slacks the rows need at the groups' draws (zero outside the window)
            act = self._network_activity(cells)
            rows = slice(r["network"], r["network"] + n_net)
            with np.errstate(invalid="ignore"):
                up = np.where(np.isfinite(bounds.row_upper[rows]), act - bounds.row_upper[rows], 0)
                down = np.where(
                    np.isfinite(bounds.row_lower[rows]), bounds.row_lower[rows] - act, 0
                )
            v[o["nup"] : o["nup"] + n_net] = np.maximum(up, 0.0)
            v[o["ndn"] : o["ndn"] + n_net] = np.maximum(down, 0.0)
        v[o["y"] :] = y
        return v
