"""Benchmark: the day-ahead cohort LP of a 100-substation corridor, ours against linopy.

Builds a synthetic 200 km two-direction corridor with 100 substations (a 1.2 km inductive
section at each, traffic and vehicles of the built-in ``shin-tomei``), plans one day
(96 steps of 15 min) and prints

- cohort and exposure preparation time (shared input of both builders),
- our build (index arrays → scipy.sparse → highspy.passModel) and linopy's build of the
  same rows and columns (``linopy.Model`` → ``to_highspy``), measured in the same run,
- the cold solve, and warm MPC re-plans: the window moves one step and cohort counts
  change (bounds and right-hand sides only), as in ``mpc``; each re-plan is solved by our
  session (it sends only the bounds that changed, and a moved window frees no bound) and by
  the former one (every bound sent, the window's outside relaxed), on the same requests in
  turn, and their objectives must agree,
- the objective of both builds solved by HiGHS: they must be the same LP (relative difference
  at most 1e-6) before any build ratio is printed; if not, the benchmark exits with status 1
  and names the blocks where they differ.

Timings are wall and CPU time of this process: on a machine shared with other work the wall
time of a solve grows with the load (printed), the CPU time much less.

Run: ``.venv/bin/python benchmarks/planner.py``.
"""

from __future__ import annotations

import os
import platform
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import highspy
import linopy
import numpy as np
import scipy.sparse as sp
import xarray as xr
import yaml

from ersgrid.optimize import (
    Bounds,
    CohortLP,
    HighsSession,
    ObjectiveWeights,
    PlanInputs,
    PlanRequest,
    Solution,
    exposure,
    forecast_cohorts,
    storage_arrays,
)
from ersgrid.optimize.cohorts import drop_idle
from ersgrid.optimize.solver import quiet_highs
from ersgrid.scenario.layout import build_layout
from ersgrid.scenario.loader import _builtin_text, parse_scenario
from ersgrid.timeindex import PLANNING_STEP_H, planning_index
from ersgrid.world import build_world

# legacy linopy semantics (a shifted-out variable contributes 0) are what the soc and cum
# rows need; silence the notice about the coming change
warnings.filterwarnings("ignore", category=linopy.LinopySemanticsWarning)

N_SUB = 100
SPACING_KM = 2.0
SAME_OBJECTIVE = 1e-6
"""Largest relative difference of the two builds' objectives for them to count as one LP."""


def corridor() -> object:
    data = yaml.safe_load(_builtin_text("shin-tomei"))
    length = N_SUB * SPACING_KM
    data["name"] = "corridor-100"
    data["road"]["length_km"] = length
    data["road"]["interchanges"] = [
        {"name": f"IC{i}", "position_km": p, "weight": 10.0 if p in (0.0, length) else 2.0}
        for i, p in enumerate(np.linspace(0.0, length, 5))
    ]
    data["substations"] = [
        {"id": f"SS{i:03d}", "position_km": SPACING_KM * (i + 0.5), "rating_kw": 4000}
        for i in range(N_SUB)
    ]
    base = dict(data["road"]["sections"][0])
    data["road"]["sections"] = [
        base | {"name": f"S{i:03d}", "start_km": SPACING_KM * (i + 0.5) - 0.6, "length_km": 1.2,
                "segment_length_m": 600, "substation": f"SS{i:03d}"}
        for i in range(N_SUB)
    ]  # fmt: skip
    data["service_areas"] = []
    for key in ("grid", "renewables", "loads"):  # shin-tomei's name its four substations
        data.pop(key, None)
    # no V2G cohorts: the linopy model below writes the LP without V2G columns and rows
    for spec in data["vehicles"].values():
        spec["v2g_share"] = 0.0
    return parse_scenario(data, "corridor-100")


def da(values: np.ndarray, dim: str, name: str | None = None) -> xr.DataArray:
    """A labelled 1-D array (linopy aligns on labels)."""
    return xr.DataArray(values, coords={dim: np.arange(len(values))}, dims=dim, name=name)


def build_linopy(model: CohortLP) -> linopy.Model:
    """The same LP (same columns, rows, bounds, costs) written with linopy's API."""
    inp = model.inputs
    ex = model.exposure
    T, S, dt = inp.n_steps, inp.n_substations, inp.step_h
    b = model.bounds()
    o, r = model.offsets, model.row_offsets
    n_x, n_u, n_f, n_ts = len(ex), len(model.u_cohort), len(model.full_cohort), T * S

    def bound(name: str, n: int, dim: str) -> dict[str, xr.DataArray]:
        sl = slice(o[name], o[name] + n)
        return {"lower": da(b.col_lower[sl], dim),
                "upper": da(b.col_upper[sl], dim)}  # fmt: skip

    m = linopy.Model()
    x = m.add_variables(coords=[np.arange(n_x)], dims=["i"], name="x", **bound("x", n_x, "i"))
    u = m.add_variables(coords=[np.arange(n_u)], dims=["k"], name="u", **bound("u", n_u, "k"))
    cum = m.add_variables(coords=[np.arange(n_f)], dims=["f"], name="cum",
                          **bound("cum", n_f, "f"))  # fmt: skip
    road, imp, exp, curt, ch, dis, soc = (
        m.add_variables(coords=[np.arange(n_ts)], dims=["c"], name=n, **bound(n, n_ts, "c"))
        for n in ("road", "imp", "exp", "curt", "ch", "dis", "soc")
    )
    # cumdef: cum − cum of the cohort's previous charging step − Σ x of the step = 0
    key = ex.cohort * T + ex.step
    row_of_x = np.searchsorted(np.unique(key), key)
    same = np.zeros(n_f)
    same[1:] = model.full_cohort[1:] == model.full_cohort[:-1]
    charge = x.groupby(da(row_of_x, "i", "f")).sum()
    m.add_constraints(cum - da(same, "f") * cum.shift(f=1) - charge == 0.0,
                      name="cumdef")  # fmt: skip
    last = np.searchsorted(model.full_cohort, model.u_cohort, side="right") - 1
    end_cum = cum.isel(f=da(last, "k"))
    need = da(b.row_lower[r["short"] : r["short"] + n_u], "k")
    m.add_constraints(end_cum + u >= need, name="short")
    ts = ex.step * S + ex.substation
    grid = (x * da(1.0 / (ex.efficiency * dt), "i")).groupby(
        da(ts, "i", "c")).sum()  # fmt: skip
    m.add_constraints(road - grid == 0.0, name="roaddef")
    rhs = da((inp.other_load_kw - inp.renewable_kw).ravel(), "c")
    m.add_constraints(imp - exp - curt - ch + dis - road == rhs, name="balance")
    st = inp.storage
    first = np.zeros(n_ts)
    first[:S] = st.initial_kwh
    dyn = soc - soc.shift(c=S) - dt * st.charge_efficiency * ch + dt / st.discharge_efficiency * dis
    m.add_constraints(dyn == da(first, "c"), name="soc")
    peak = m.add_variables(lower=b.col_lower[o["peak"]], name="peak")
    step_of = da(np.arange(n_ts) // S, "c", "t")
    m.add_constraints(imp.groupby(step_of).sum() - peak <= 0.0, name="peak")
    cost = model.cost

    def priced(v: linopy.Variable, name: str, n: int, dim: str) -> linopy.LinearExpression:
        return (v * da(cost[o[name] : o[name] + n], dim)).sum()

    # every priced block of the model (V2G is off here), not a selection of them
    assert len(model.y_x) == 0, "the linopy copy writes no V2G columns"
    terms = [priced(x, "x", n_x, "i"), priced(u, "u", n_u, "k"), priced(cum, "cum", n_f, "f")]
    for name, var in zip(("road", "imp", "exp", "curt", "ch", "dis", "soc"),
                         (road, imp, exp, curt, ch, dis, soc), strict=True):  # fmt: skip
        terms.append(priced(var, name, n_ts, "c"))
    m.add_objective(sum(terms[1:], terms[0]) + float(cost[o["peak"]]) * peak)
    return m


def lp_differences(model: CohortLP, highs: object) -> list[str]:
    """Where the LP HiGHS holds differs from ours, block by block (columns and rows in the
    same order, as linopy writes them here): matrix entries, costs, bounds."""
    b = model.bounds()
    lp = highs.getLp()  # type: ignore[attr-defined]
    if (lp.num_col_, lp.num_row_) != (model.n_cols, model.n_rows):
        return [f"size {lp.num_col_} × {lp.num_row_}, ours {model.n_cols} × {model.n_rows}"]
    a = lp.a_matrix_
    kind = sp.csr_matrix if a.format_ == highspy.MatrixFormat.kRowwise else sp.csc_matrix
    theirs = kind((np.asarray(a.value_), np.asarray(a.index_), np.asarray(a.start_)),
                  shape=(lp.num_row_, lp.num_col_)).tocsc()  # fmt: skip
    col_of = np.searchsorted(list(model.offsets.values()), np.arange(model.n_cols), "right") - 1
    row_of = np.searchsorted(list(model.row_offsets.values()), np.arange(model.n_rows), "right") - 1
    cols, rows = list(model.offsets), list(model.row_offsets)
    out = []
    diff = (theirs - model.matrix).tocoo()
    bad = np.abs(diff.data) > 1e-9
    for r, c in sorted(
        {
            (rows[i], cols[j])
            for i, j in zip(row_of[diff.row[bad]], col_of[diff.col[bad]], strict=True)
        }
    ):
        out.append(f"matrix entries of row family {r!r} in column block {c!r}")
    pairs = (("cost", lp.col_cost_, model.cost, cols, col_of),
             ("column lower bound", lp.col_lower_, b.col_lower, cols, col_of),
             ("column upper bound", lp.col_upper_, b.col_upper, cols, col_of),
             ("row lower bound", lp.row_lower_, b.row_lower, rows, row_of),
             ("row upper bound", lp.row_upper_, b.row_upper, rows, row_of))  # fmt: skip
    for what, value, ours, names, of in pairs:
        where = np.flatnonzero(~np.isclose(np.asarray(value), ours, rtol=1e-12, atol=1e-12))
        out += [f"{what} of {names[i]!r}" for i in sorted(set(of[where].tolist()))]
    return out


class FormerSession(HighsSession):
    """The peer of the re-plans: the session as it was before it sent only what changed.
    Every solve sends every bound, and the window's outside is relaxed as it was then (rows
    of steps outside the window free, cohorts' room unbounded there, the exit rows of cohorts
    that left free, stored energy after the window zero). Same LP inside the window, same
    optimum; each moved window freed bounds the warm basis held, so HiGHS first restored its
    dual feasibility."""

    def _send(self, bounds: Bounds) -> int:
        h = self._highs
        cols = np.arange(len(bounds.col_lower), dtype=np.int32)
        rows = np.arange(len(bounds.row_lower), dtype=np.int32)
        h.changeColsBounds(len(cols), cols, bounds.col_lower, bounds.col_upper)
        h.changeRowsBounds(len(rows), rows, bounds.row_lower, bounds.row_upper)  # type: ignore[attr-defined]
        return len(cols) + len(rows)

    def solve(self, request: PlanRequest | None = None) -> Solution:
        return self.solve_bounds(former_bounds(self.model, request or PlanRequest()))


def former_bounds(model: CohortLP, request: PlanRequest) -> Bounds:
    """The bounds of ``request`` under the former rule for the window's outside."""
    b = model.bounds(request)
    f = model.frame(request)
    o, r = model.offsets, model.row_offsets
    T, S = model.inputs.n_steps, model.inputs.n_substations
    for name in ("balance", "soc"):
        sl = slice(r[name], r[name] + T * S)
        b.row_lower[sl] = np.where(f.live, b.row_lower[sl], -np.inf)
        b.row_upper[sl] = np.where(f.live, b.row_upper[sl], np.inf)
    cum = slice(o["cum"], o["cum"] + len(model.full_cohort))
    in_win = (model.full_step >= f.k0) & (model.full_step < f.k1)
    b.col_upper[cum] = np.where(in_win, b.col_upper[cum], np.inf)
    short = slice(r["short"], r["short"] + len(model.u_cohort))
    b.row_lower[short] = np.where(model.exit_step < f.k0, -np.inf, b.row_lower[short])
    after = slice(o["soc"] + f.k1 * S, o["soc"] + T * S)
    b.col_lower[after] = 0.0
    b.col_upper[after] = 0.0
    return b


def spread(values: list[float]) -> str:
    """Median, least and most of repeated measurements."""
    v = np.array(values)
    return f"median {np.median(v):.3f} s (min {v.min():.3f}, max {v.max():.3f})"


def main() -> None:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {load}; Python {platform.python_version()}, linopy "
          f"{linopy.__version__}, highspy {quiet_highs().version()}")  # fmt: skip
    sc = corridor()
    layout = build_layout(sc)  # type: ignore[arg-type]
    index = planning_index(sc, 1.0, None)  # type: ignore[arg-type]
    T, S = len(index), layout.n_substations
    t0 = time.perf_counter()
    world = build_world(sc, index, layout=layout)  # type: ignore[arg-type]
    volume = world.model_volume
    coh = forecast_cohorts(sc, layout, volume, PLANNING_STEP_H, n_bins=1)  # type: ignore[arg-type]
    coh, ex = drop_idle(coh, exposure(coh, layout, T, PLANNING_STEP_H))
    t_prep = time.perf_counter() - t0
    en = world.energy
    inputs = PlanInputs(
        PLANNING_STEP_H, world.price_per_kwh,
        world.co2_kg_per_kwh, en.other_load_kw, en.renewable_kw,
        en.import_limit_kw, en.export_limit_kw, layout.sub_rating_kw,
        ObjectiveWeights.from_scenario(sc), storage_arrays(sc, layout),  # type: ignore[arg-type]
    )  # fmt: skip

    t0 = time.perf_counter()
    model = CohortLP(coh, ex, inputs, storage_value_per_kwh=24.0)
    session = HighsSession(model, time_limit_s=600.0)
    t_ours = time.perf_counter() - t0
    print(f"corridor: {S} substations, {layout.n_segments} segments, {T} steps; "
          f"{len(coh)} cohorts; LP {model.n_cols} columns, {model.n_rows} rows, "
          f"{model.matrix.nnz} non-zeros")  # fmt: skip
    print(f"cohorts + exposure (shared input):  {t_prep:8.3f} s")
    t0 = time.perf_counter()
    lm = build_linopy(model)
    h_linopy = lm.to_highspy()
    t_linopy = time.perf_counter() - t0

    cold = session.solve()
    print(f"cold solve (HiGHS, 1 thread):       {cold.solve_s:8.3f} s   "
          f"{cold.iterations} iterations, objective {cold.objective:,.1f}")  # fmt: skip
    h_linopy.setOptionValue("output_flag", False)
    h_linopy.setOptionValue("threads", 1)
    h_linopy.run()
    lin_obj = h_linopy.getInfo().objective_function_value
    gap = abs(lin_obj - cold.objective) / abs(cold.objective)
    print(f"linopy's copy solved: objective {lin_obj:,.1f} (relative difference {gap:.1e})")
    if not gap <= SAME_OBJECTIVE:
        where = lp_differences(model, h_linopy) or ["nothing found block by block"]
        raise SystemExit(
            f"FAIL: linopy's copy is not the same LP (objective {lin_obj:,.1f} against "
            f"{cold.objective:,.1f}, relative difference {gap:.1e} > {SAME_OBJECTIVE:.0e}); "
            f"no build ratio is printed. It differs in: {'; '.join(where)}"
        )
    print(f"build, ours (arrays→COO→highspy):   {t_ours:8.3f} s")
    print(f"build, linopy (Model→to_highspy):   {t_linopy:8.3f} s   "
          f"→ ours is {t_linopy / t_ours:.1f}× faster (goal ≥ 10×)")  # fmt: skip

    former = FormerSession(model, time_limit_s=600.0)
    former.solve()
    rng = np.random.default_rng(1)
    times: dict[str, dict[str, list[float]]] = {}

    def timed(which: str, sess: HighsSession, request: PlanRequest) -> Solution:
        t0, c0 = time.perf_counter(), time.process_time()
        sol = sess.solve(request)
        got = times.setdefault(which, {"wall": [], "cpu": [], "its": [], "sent": []})
        got["wall"].append(time.perf_counter() - t0)
        got["cpu"].append(time.process_time() - c0)
        got["its"].append(sol.iterations)
        got["sent"].append(sol.sent)
        return sol

    print(
        "warm re-plans, 8 each, the whole call (bounds of the request, sent to HiGHS, "
        "solved, solution read), ours and the former session in turn on the same requests:"
    )
    for label, live in (
        ("MPC re-plan: window +1 step, measured cohorts and batteries", True),
        ("stress: window +1 step, every cohort count ±20 %", False),
    ):
        times.clear()
        for k in range(1, 9):
            count = coh.count.copy()
            energy = coh.energy_kwh.copy()
            # as in mpc: cohorts that entered in the last hour are measured, the rest forecast
            pick = (coh.entry_step < k) & (coh.entry_step >= k - 4) if live else slice(None)
            count[pick] *= rng.uniform(0.8, 1.2, len(count[pick]))
            energy[pick] += rng.uniform(-5.0, 5.0, len(energy[pick]))
            stored = inputs.storage.initial_kwh * rng.uniform(0.9, 1.1, S)
            request = PlanRequest(window=(k, T), count=count, energy_kwh=energy,
                                  stored_kwh=stored)  # fmt: skip
            ours = timed("ours", session, request)
            theirs = timed("former", former, request)
            if abs(ours.objective - theirs.objective) > 1e-7 * abs(theirs.objective):
                raise SystemExit(f"FAIL: re-plan {k}: objective {ours.objective:,.2f}, the "
                                 f"former session's {theirs.objective:,.2f}")  # fmt: skip
        print(f"  {label}:")
        for which, got in times.items():
            print(f"    {which:6s} wall {spread(got['wall'])}; CPU {spread(got['cpu'])}; "
                  f"median {int(np.median(got['its']))} iterations, "
                  f"{int(np.median(got['sent']))} bounds sent")  # fmt: skip
        ratio = np.median(times["former"]["wall"]) / np.median(times["ours"]["wall"])
        print(f"    ours {ratio:.1f}× faster (wall medians); goal: wall median ≤ 0.2 s")
    # HiGHS's own work per solve, whatever changed: the last request again (nothing sent)
    again = []
    for _ in range(5):
        c0 = time.process_time()
        same = session.solve(request)
        again.append(time.process_time() - c0)
    print(f"  the last request again ({same.sent} bounds sent, {same.iterations} iterations): "
          f"CPU {spread(again)}")  # fmt: skip


if __name__ == "__main__":
    main()
