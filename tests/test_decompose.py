"""The decomposed cohort LP against the monolithic one on a corridor small enough for both."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ersgrid import build_layout, load_scenario
from ersgrid.control.base import RunContext
from ersgrid.control.mpc import MPC, DecomposedMPC, MPCSettings
from ersgrid.control.network import NetworkView
from ersgrid.control.planning import plan_inputs, storage_value
from ersgrid.optimize import (
    Bounds,
    CohortLP,
    HighsSession,
    PlanRequest,
    exposure,
    forecast_cohorts,
)
from ersgrid.optimize.cohorts import drop_idle
from ersgrid.optimize.decompose import DecomposedLP, LocalGroups, substation_groups
from ersgrid.run import run
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import PLANNING_STEP_H, planning_index
from ersgrid.world import build_world

HORIZON = 16
FIRST = 56
"""Planning from 14:00 over 4 h: daytime prices, storage and V2G all in play (at night the
groups' plans are the monolithic optimum to rounding, which would test less)."""


@pytest.fixture(scope="module")
def shin_tomei() -> tuple[CohortLP, float, float]:
    """shin-tomei's planning LP (4 substations) for 4 h from 14:00 on its first day, its
    optimal objective [JPY] and road energy [kWh] solved in one piece."""
    sc = load_scenario("shin-tomei")
    index = planning_index(sc, 1.0)
    world = build_world(sc, index)
    lay = world.layout
    ctx = RunContext(world=world, energy=world.energy, layout=lay)
    stop = FIRST + HORIZON
    volume = ctx.expected_volume.iloc[FIRST:stop].reset_index(drop=True)
    coh = forecast_cohorts(sc, lay, volume, PLANNING_STEP_H)
    coh, ex = drop_idle(coh, exposure(coh, lay, HORIZON, PLANNING_STEP_H))
    model = CohortLP(coh, ex, plan_inputs(ctx, FIRST, stop), storage_value(ctx))
    mono = HighsSession(model).solve()
    return model, mono.objective, float(mono.values[: len(ex)].sum())


def _violation(model: CohortLP, values: np.ndarray, b: Bounds) -> float:
    """Largest violation of any row or column bound, relative to the bound's size [-]."""
    act = model.matrix @ values
    scale_r = 1.0 + np.abs(np.where(np.isfinite(b.row_lower), b.row_lower, 0.0))
    scale_c = 1.0 + np.abs(np.where(np.isfinite(b.col_upper), b.col_upper, 0.0))
    return float(
        max(
            ((b.row_lower - act) / scale_r).max(), ((act - b.row_upper) / scale_r).max(),
            ((b.col_lower - values) / scale_c).max(), ((values - b.col_upper) / scale_c).max(),
        )
    )  # fmt: skip


def test_overlapping_groups_match_the_monolithic_plan(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    model, best, road_kwh = shin_tomei
    assert model.inputs.n_substations == 4
    b = model.bounds()
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    assert [list(g) for g in groups] == [[0, 1, 2], [1, 2, 3]]
    split = DecomposedLP(model, groups).solve()
    assert split.sweeps >= 2
    assert split.objective == pytest.approx(float(model.cost @ split.values), rel=1e-12)
    # never better than the optimum, and within 0.5 % of it (0.39 % measured, 4 sweeps)
    assert split.objective >= best - 1e-6 * abs(best)
    assert split.objective <= best + 5e-3 * abs(best)
    assert split.values[: len(model.exposure)].sum() == pytest.approx(road_kwh, rel=1e-3)
    assert _violation(model, split.values, b) < 1e-9  # ratings, import caps, storage, cohorts


def test_disjoint_groups_stay_feasible_and_near_the_optimum(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    model, best, _ = shin_tomei
    b = model.bounds()
    groups = substation_groups(np.arange(4.0), 2)
    assert [list(g) for g in groups] == [[0, 1], [2, 3]]
    split = DecomposedLP(model, groups).solve()
    assert _violation(model, split.values, b) < 1e-9
    assert split.objective >= best - 1e-6 * abs(best)
    # the known gap of block-coordinate descent without overlap (module text): 3.7 % here
    assert split.objective <= best + 5e-2 * abs(best)


def test_groups_keep_the_reserve_the_monolithic_plan_keeps(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    """A battery reserve (mpc's under a demand charge) binds every group's plan as it binds
    the whole model's: no planned step stores less, and the plan does discharge down to it."""
    model, _, _ = shin_tomei
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    st = model.inputs.storage
    stored = st.initial_kwh.copy()
    free = DecomposedLP(model, groups).solve(PlanRequest(stored_kwh=stored))
    soc = model.block(free.values, "soc")
    assert soc.min(axis=0).min() < stored.min() - 100.0  # without it the plan discharges
    reserve = np.asarray(stored - 0.5 * (stored - soc.min(axis=0)), dtype=np.float64)
    request = PlanRequest(stored_kwh=stored, reserve_kwh=reserve)
    b = model.bounds(request)
    kept = DecomposedLP(model, groups).solve(request)
    assert _violation(model, kept.values, b) < 1e-9
    assert (model.block(kept.values, "soc") - reserve).min() >= -1e-6
    best = HighsSession(model).solve(request).objective
    assert best - 1e-6 * abs(best) <= kept.objective <= best + 5e-3 * abs(best)
    assert kept.objective > free.objective  # the reserve binds


def test_substation_groups_cover_the_corridor_in_road_order() -> None:
    pos = np.array([50.0, 0.0, 30.0, 10.0, 20.0, 40.0, 60.0])
    groups = substation_groups(pos, 3, 1)
    assert [list(g) for g in groups] == [[1, 3, 4], [2, 4, 5], [0, 5, 6]]
    assert [list(g) for g in substation_groups(pos, 3)] == [[1, 3, 4], [0, 2, 5], [0, 5, 6]]
    with pytest.raises(ValueError, match="overlap"):
        substation_groups(pos, 3, 3)


def test_mpc_decomposed_runs_like_mpc_on_one_substation(tiny: Scenario) -> None:
    # one substation: one group, so the decomposed path must reproduce mpc's run exactly
    plain = MPC(MPCSettings(horizon_steps=8, replan_steps=1))
    split = MPC(MPCSettings(horizon_steps=8, replan_steps=1, decompose=True))
    a = run(tiny, plain, days=0.0625)
    b = run(tiny, split, days=0.0625)
    assert split.groups_per_plan == 1
    assert len(split.sweeps) == 6
    assert b.kpis["fallbacks"] == 0
    assert b.kpis["objective"] == pytest.approx(a.kpis["objective"], rel=1e-9)
    assert DecomposedMPC().settings.decomposed(1) is True


def test_a_replan_started_from_the_last_plan_is_feasible_and_no_worse(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    model, _, _ = shin_tomei
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    first = DecomposedLP(model, groups).solve()
    # an hour later: the window moved, and counts and energies differ from the forecast
    rng = np.random.default_rng(1)
    n = model.cohorts.count * rng.uniform(0.7, 1.4, len(model.cohorts))
    e0 = model.cohorts.energy_kwh * rng.uniform(0.9, 1.1, len(model.cohorts))
    window = (4, HORIZON)
    request = PlanRequest(window=window, count=n, energy_kwh=e0)
    b = model.bounds(request)
    split = DecomposedLP(model, groups)
    x, y, cells = split.feasible_start(first.values, b)
    assert np.all(x[model.exposure.step < 4] == 0.0)
    assert 0.0 < x.sum() < first.values[: len(x)].sum()  # some cohorts kept, some reset
    start = split._assemble(x, y, cells, b, 0.0)
    act = model.matrix @ start
    r = model.row_offsets
    cohort_rows = slice(0, r["roaddef"])  # cumdef and shortfall rows
    assert np.all(act[cohort_rows] >= b.row_lower[cohort_rows] - 1e-9)
    assert np.all(start[: r["roaddef"]] <= b.col_upper[: r["roaddef"]] + 1e-9)
    cold = DecomposedLP(model, groups).solve(request)
    for sweeps in (1, 2):
        warm = DecomposedLP(model, groups, max_sweeps=sweeps).solve(request, start=first.values)
        assert _violation(model, warm.values, b) < 1e-9
        assert warm.objective <= cold.objective + 1e-9 * abs(cold.objective)


def test_groups_that_free_their_solvers_plan_as_groups_that_keep_them(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    """One HiGHS instance at a time, each group's rebuilt from its basis: the same plans,
    cold and re-planned."""
    model, _, _ = shin_tomei
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    kept = DecomposedLP(model, groups)
    freed = DecomposedLP(model, groups, executor=LocalGroups(resident=False))
    rng = np.random.default_rng(3)
    for window in ((0, HORIZON), (2, HORIZON), (5, HORIZON)):
        n = model.cohorts.count * rng.uniform(0.8, 1.2, len(model.cohorts))
        request = PlanRequest(window=window, count=n)
        a, b = kept.solve(request), freed.solve(request)
        assert b.objective == pytest.approx(a.objective, rel=1e-7)
        assert _violation(model, b.values, model.bounds(request)) < 1e-9


def test_a_group_that_times_out_in_a_later_sweep_keeps_its_plan(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    model, best, _ = shin_tomei
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    # first (cold) solves get an ample limit, every later one none at all
    split = DecomposedLP(model, groups, time_limit_s=0.0, cold_time_limit_s=60.0).solve()
    assert split.skipped >= 1
    assert len(split.group_solve_s) + split.skipped == split.sweeps * len(groups)
    assert _violation(model, split.values, model.bounds()) < 1e-9
    assert split.objective >= best - 1e-6 * abs(best)


def _request_of_every_field(model: CohortLP) -> PlanRequest:
    """A request with every field set (a guide's path that binds from 15:30 to 17:00)."""
    T, S = model.inputs.n_steps, model.inputs.n_substations
    st = model.inputs.storage
    rng = np.random.default_rng(7)
    path = np.full((T, S), np.nan)
    path[6:12] = 2500.0
    return PlanRequest(
        window=(1, T), count=model.cohorts.count * rng.uniform(0.8, 1.2, len(model.cohorts)),
        energy_kwh=model.cohorts.energy_kwh - 1.0, stored_kwh=st.initial_kwh * 0.95,
        import_limit_kw=np.asarray(model.inputs.import_limit_kw * 0.9, dtype=np.float64),
        terminal_kwh=np.full(S, 900.0), reserve_kwh=np.full(S, 600.0), path_kwh=path,
        peak_floor_kw=100.0, network_base=np.zeros((T, model.inputs.n_elements)),
    )  # fmt: skip


def test_every_request_field_reaches_each_group(shin_tomei: tuple[CohortLP, float, float]) -> None:
    """A group's bounds are the monolithic model's on the group's columns and rows, for every
    field of the request (the coupling rows aside: exit need, V2G surplus, peak, and the
    cumulative-charge room the other groups use)."""
    import dataclasses

    from ersgrid.optimize.request import AXES

    model, _, _ = shin_tomei
    request = _request_of_every_field(model)
    assert all(f.metadata["axis"] in AXES for f in dataclasses.fields(PlanRequest))
    assert all(getattr(request, f.name) is not None for f in dataclasses.fields(PlanRequest))
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    split = DecomposedLP(model, groups)
    full = model.bounds(request)
    o, r = model.offsets, model.row_offsets
    for g in split.groups:
        gm = g.model
        gb = gm.bounds(request.restrict(g.subs, g.cohorts))
        go, gr = gm.offsets, gm.row_offsets
        for name in ("road", "imp", "exp", "curt", "ch", "dis", "soc"):
            mine = slice(go[name], go[name] + len(g.cells))
            for side in ("col_lower", "col_upper"):
                np.testing.assert_array_equal(
                    getattr(gb, side)[mine], getattr(full, side)[o[name] + g.cells], name
                )
        for side in ("col_lower", "col_upper"):
            np.testing.assert_array_equal(getattr(gb, side)[: len(g.x)], getattr(full, side)[g.x])
            np.testing.assert_array_equal(getattr(gb, side)[go["y"] :], getattr(full, side)[
                o["y"] + g.y])  # fmt: skip
        for name in ("balance", "soc"):
            mine = slice(gr[name], gr[name] + len(g.cells))
            for side in ("row_lower", "row_upper"):
                np.testing.assert_array_equal(
                    getattr(gb, side)[mine], getattr(full, side)[r[name] + g.cells], name
                )
        recv = slice(gr["receiver"], gr["receiver"] + len(g.y))
        np.testing.assert_array_equal(gb.row_upper[recv], full.row_upper[r["receiver"] + g.y])


def test_one_request_binds_the_decomposed_planner_as_the_monolithic(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    """The same request, guide's path included, solved whole and by groups: both plans keep
    every bound of it, the path binds in both, the groups end within the decomposition's
    stated gap (0.5 % on overlapping groups of three)."""
    model, _, _ = shin_tomei
    request = _request_of_every_field(model)
    path = request.path_kwh
    assert path is not None
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    b = model.bounds(request)
    mono = HighsSession(model).solve(request)
    split = DecomposedLP(model, groups).solve(request)
    unguided = HighsSession(model).solve(request.without_guide())
    assert mono.objective > unguided.objective  # the guide's bounds cost the plan money
    kept = np.isfinite(path)
    for plan in (mono.values, split.values):
        assert _violation(model, plan, b) < 1e-9
        above = (model.block(plan, "soc") - path)[kept]
        assert above.min() >= -1e-6
        assert above.min() <= 1e-6  # the path binds
    best = mono.objective
    assert best - 1e-6 * abs(best) <= split.objective <= best + 5e-3 * abs(best)


@pytest.fixture(scope="module")
def shin_tomei_view() -> tuple[CohortLP, NetworkView, int]:
    """shin-tomei's planning LP from 17:00 over 4 h (the evening peak), with the network's
    rows linearised at the draw without the road; its network view and first run step."""
    sc = load_scenario("shin-tomei")
    world = build_world(sc, planning_index(sc, 1.0))
    lay = world.layout
    ctx = RunContext(world=world, energy=world.energy, layout=lay)
    first, stop = 68, 68 + HORIZON
    volume = ctx.expected_volume.iloc[first:stop].reset_index(drop=True)
    coh = forecast_cohorts(sc, lay, volume, PLANNING_STEP_H)
    coh, ex = drop_idle(coh, exposure(coh, lay, HORIZON, PLANNING_STEP_H))
    view = NetworkView(ctx)
    inputs = dataclasses.replace(plan_inputs(ctx, first, stop), network=view.rows(first, stop))
    return CohortLP(coh, ex, inputs, storage_value(ctx)), view, first


@pytest.fixture(scope="module")
def shin_tomei_network(
    shin_tomei_view: tuple[CohortLP, NetworkView, int],
) -> tuple[CohortLP, PlanRequest]:
    """:func:`shin_tomei_view`'s LP and a request linearised at its plan without the network,
    the network's own voltages 0.005 p.u. lower (so the rows bind: that plan breaks the
    band)."""
    model, view, first = shin_tomei_view
    blind = HighsSession(model).solve()
    draw = view.planned_draw(model, blind.values, first, None)
    base = view.base(model, first, draw)
    # the network's own voltages 0.005 p.u. lower than the profiles say (a heavier evening)
    base[:, [label.startswith("voltage") for label in view.labels]] -= 0.005
    return model, PlanRequest(network_base=base)


def test_a_plan_is_rebased_on_the_steps_it_checks(
    shin_tomei_view: tuple[CohortLP, NetworkView, int],
) -> None:
    """Linearised at the plan's own draw, the AC power flow is the prediction and the plan
    stands; a linearisation off from step 8 on sends the whole window back to be solved
    again, and a plan that checks only its first 8 steps (what it dispatches before the
    next re-plan) stands, while one that checks 9 does not."""
    model, view, first = shin_tomei_view
    plan = HighsSession(model).solve().values
    draw = view.planned_draw(model, plan, first, None)
    exact = PlanRequest(network_base=view.base(model, first, draw))
    assert view.rebased(model, exact, plan, first) is None
    base = np.asarray(exact.network_base).copy()
    assert model.inputs.network is not None
    volts = np.array([label.startswith("voltage") for label in model.inputs.network.labels])
    base[8:, volts] += 0.01  # 50 times the re-linearisation tolerance
    off = PlanRequest(network_base=base)
    again = view.rebased(model, off, plan, first)
    assert again is not None
    np.testing.assert_allclose(np.asarray(again.network_base), np.asarray(exact.network_base))
    assert view.rebased(model, off, plan, first, checked_steps=8) is None
    assert view.rebased(model, off, plan, first, checked_steps=9) is not None


def test_groups_keep_the_network_limits_the_monolithic_plan_keeps(
    shin_tomei_network: tuple[CohortLP, PlanRequest],
) -> None:
    """With rows ``network`` binding, the plan by overlapping groups keeps every row and
    bound the whole model's keeps (the other groups' draw on each element carried into a
    group's rows), plans no more slack, and ends within the decomposition's stated gap."""
    model, request = shin_tomei_network
    assert model.inputs.n_elements > 0
    b = model.bounds(request)
    blind = HighsSession(model).solve()
    base = np.asarray(request.network_base)
    assert model.inputs.network is not None
    volts = np.array([label.startswith("voltage") for label in model.inputs.network.labels])
    assert model.network_values(blind.values, base)[:, volts].min() < 0.95 - 1e-3  # blind
    mono = HighsSession(model).solve(request)
    groups = substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)
    split = DecomposedLP(model, groups).solve(request)
    for plan in (mono.values, split.values):
        assert _violation(model, plan, b) < 1e-9
        assert model.network_held(plan, request).any()  # the rows bind
    assert model.network_slack(mono.values).max() == pytest.approx(0.0, abs=1e-9)
    assert model.network_slack(split.values).max() == pytest.approx(0.0, abs=1e-9)
    assert model.network_values(mono.values, base)[:, volts].min() >= 0.95 - 1e-9
    assert split.objective == pytest.approx(float(model.cost @ split.values), rel=1e-12)
    best = mono.objective
    assert best - 1e-6 * abs(best) <= split.objective <= best + 5e-3 * abs(best)
    # the limits cost nothing here (the plan moves charge between ties), and never gain
    assert mono.objective >= blind.objective - 1e-9 * abs(blind.objective)


def _shin_tomei_groups() -> list[np.ndarray]:
    return substation_groups(build_layout(load_scenario("shin-tomei")).sub_position_km, 3, 2)


def test_jacobi_plan_is_feasible_and_within_one_percent_of_gauss_seidel(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    model, best, _ = shin_tomei
    b = model.bounds()
    seq = DecomposedLP(model, _shin_tomei_groups()).solve()
    jac_lp = DecomposedLP(model, _shin_tomei_groups(), max_sweeps=8, scheme="jacobi")
    jac = jac_lp.solve()
    assert _violation(model, jac.values, b) < 1e-6
    assert jac_lp.feasible(jac.values, b)
    assert jac.objective == pytest.approx(float(model.cost @ jac.values), rel=1e-12)
    assert jac.objective >= best - 1e-6 * abs(best)
    assert jac.objective <= seq.objective + 1e-2 * abs(seq.objective)
    # a sweep from a checked plan never ends above it: more sweeps, never a dearer plan
    one = DecomposedLP(model, _shin_tomei_groups(), max_sweeps=2, scheme="jacobi").solve()
    assert jac.objective <= one.objective + 1e-9 * abs(one.objective)
    again = jac_lp.solve(start=seq.values)
    assert jac_lp.feasible(again.values, b)


def test_jacobi_on_one_dask_worker_equals_jacobi_in_process(
    shin_tomei: tuple[CohortLP, float, float],
) -> None:
    pytest.importorskip("distributed")
    from ersgrid.optimize.parallel import DaskGroups

    model, _, _ = shin_tomei
    local_lp = DecomposedLP(model, _shin_tomei_groups(), max_sweeps=3, scheme="jacobi")
    local = local_lp.solve()
    local_again = local_lp.solve(start=local.values)
    pool = DaskGroups(workers=1)
    try:
        lp = DecomposedLP(model, _shin_tomei_groups(), max_sweeps=3, scheme="jacobi", executor=pool)
        remote = lp.solve()
        # a second solve sends only the bounds that changed and stays warm on the worker
        again = lp.solve(start=remote.values)
    finally:
        pool.close()
    assert remote.sweeps == local.sweeps
    np.testing.assert_allclose(remote.values, local.values, rtol=0, atol=1e-9)
    assert lp.feasible(again.values, model.bounds())
    np.testing.assert_allclose(again.values, local_again.values, rtol=0, atol=1e-9)


def test_mpc_on_one_dask_worker_runs_like_mpc_on_one_substation(tiny: Scenario) -> None:
    pytest.importorskip("distributed")
    # one group: a Jacobi sweep is the group's own solve, so the run must be mpc's
    plain = MPC(MPCSettings(horizon_steps=8))
    pooled = MPC(MPCSettings(horizon_steps=8, decompose=True, workers=1))
    a = run(tiny, plain, days=0.0625)
    b = run(tiny, pooled, days=0.0625)
    assert pooled.groups_per_plan == 1
    assert b.kpis["fallbacks"] == 0
    assert b.kpis["objective"] == pytest.approx(a.kpis["objective"], rel=1e-9)


def test_the_network_view_answers_a_repeated_power_flow_from_its_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan's check and the next plan's base ask for the power flows at the same draw: the
    second is the first's answer; another draw is solved afresh, as a new view solves it."""
    sc = load_scenario("shin-tomei")
    world = build_world(sc, planning_index(sc, 1.0))
    ctx = RunContext(world=world, energy=world.energy, layout=world.layout)
    view = NetworkView(ctx)
    solved = []
    solve = view._solve_linear

    def counted(*args: object, **kwargs: object) -> object:
        solved.append(args[:2])
        return solve(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(view, "_solve_linear", counted)
    draw = view.site_kw[68:72].copy()
    values, _ = view._linearise(68, 72, draw)
    again, _ = view._linearise(68, 72, draw.copy())
    assert len(solved) == 1
    assert again is values
    draw[0, 0] += 500.0
    moved, moved_coef = view._linearise(68, 72, draw)
    assert len(solved) == 2
    fresh, fresh_coef = NetworkView(ctx)._linearise(68, 72, draw)
    np.testing.assert_allclose(moved, fresh, equal_nan=True)
    np.testing.assert_allclose(moved_coef, fresh_coef, equal_nan=True)
    assert not np.allclose(moved, values, equal_nan=True)
