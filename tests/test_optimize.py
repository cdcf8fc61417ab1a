"""The cohort LP: an independent dense formulation agrees, warm equals cold, failures named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from ersgrid.errors import InfeasibleSchedule
from ersgrid.optimize import (
    CohortLP,
    HighsSession,
    ObjectiveWeights,
    PlanInputs,
    PlanRequest,
    StorageArrays,
    exposure,
    forecast_cohorts,
)
from ersgrid.optimize import cohorts as cohorts_module
from ersgrid.optimize.cohorts import Cohorts, Exposure, drop_idle, entry_soc_bins
from ersgrid.optimize.network import network_rows
from ersgrid.scenario import build_layout
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import PLANNING_STEP_H, planning_index
from ersgrid.world import build_world
from ersgrid.world.traffic import ers_fraction


def expected_volume(scenario: Scenario, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The traffic model's mean on ``index`` (the world's, before any price response)."""
    return build_world(scenario, index).model_volume


DT = PLANNING_STEP_H


def _instance(tiny: Scenario, n_steps: int = 10) -> tuple[Cohorts, Exposure, PlanInputs]:
    """A small instance of tiny where every constraint group matters.

    Prices step up and down, an import cap binds in the dear steps, renewables exceed the
    load at midday with a small export limit (curtailment), and a battery can shift energy.
    Traffic is scaled up so the substation rating binds.
    """
    layout = build_layout(tiny)
    index = planning_index(tiny, 1.0, None)[32 : 32 + n_steps]
    volume = expected_volume(tiny, index) * 6.0
    cohorts = forecast_cohorts(tiny, layout, volume, DT, first_step=-2, n_bins=2)
    cohorts, ex = drop_idle(cohorts, exposure(cohorts, layout, n_steps, DT))
    price = np.array([20.0, 20.0, 35.0, 35.0, 60.0, 60.0, 35.0, 20.0, 20.0, 35.0])[:n_steps]
    S = layout.n_substations
    renewable = np.zeros((n_steps, S))
    renewable[5:7] = 1500.0
    imp_cap = np.full((n_steps, S), np.inf)
    imp_cap[4:6] = 150.0
    storage = StorageArrays(
        energy_min_kwh=np.full(S, 50.0),
        energy_max_kwh=np.full(S, 900.0),
        initial_kwh=np.full(S, 300.0),
        power_kw=np.full(S, 400.0),
        charge_efficiency=0.92,
        discharge_efficiency=0.93,
    )
    weights = ObjectiveWeights(
        user_price_per_kwh=45.0,
        export_price_per_kwh=8.5,
        carbon_price_per_kg=3.0,
        degradation_cost_per_kwh=5.0,
        shortfall_penalty_per_kwh=180.0,
        v2g_cost_per_kwh=6.0,
    )
    inputs = PlanInputs(
        step_h=DT,
        price_per_kwh=price,
        co2_kg_per_kwh=np.full(n_steps, 0.437),
        other_load_kw=np.full((n_steps, S), 60.0),
        renewable_kw=renewable,
        import_limit_kw=imp_cap,
        export_limit_kw=np.full((n_steps, S), 100.0),
        road_rating_kw=layout.sub_rating_kw * 0.5,
        weights=weights,
        storage=storage,
    )
    return cohorts, ex, inputs


def _dense_objective(c: Cohorts, ex: Exposure, inp: PlanInputs, terminal_value: float) -> float:
    """The same plan written independently: per-vehicle charge, explicit battery states,
    dense matrices, one loop per cohort, solved by scipy's linprog."""
    T, S = inp.n_steps, inp.n_substations
    names: list[tuple[object, ...]] = []

    def var(*key: object) -> int:
        names.append(key)
        return len(names) - 1

    xv = [var("x", i) for i in range(len(ex))]
    yv = {i: var("y", i) for i in range(len(ex)) if c.v2g[ex.cohort[i]] > 0.5}
    cohorts = sorted(set(ex.cohort.tolist()))
    uv = {k: var("u", k) for k in cohorts}
    ev: dict[tuple[int, int], int] = {}
    for k in cohorts:
        steps = ex.step[ex.cohort == k]
        for t in range(int(steps.min()), int(steps.max()) + 1):
            ev[(k, t)] = var("E", k, t)
    grid = {(n, t, s): var(n, t, s) for n in ("imp", "exp", "curt", "ch", "dis", "soc")
            for t in range(T) for s in range(S)}  # fmt: skip
    nv = len(names)
    cost = np.zeros(nv)
    lb = np.zeros(nv)
    ub = np.full(nv, np.inf)
    A_eq: list[np.ndarray] = []
    b_eq: list[float] = []
    A_ub: list[np.ndarray] = []
    b_ub: list[float] = []
    w = inp.weights

    def row() -> np.ndarray:
        return np.zeros(nv)

    def consumed(k: int, t: int) -> float:
        """Energy one vehicle of cohort k has used by the start of step t [kWh]."""
        driven = (t * DT - c.entry_h[k]) * 3600.0 * c.speed_mps[k]
        return float(c.consumption_kwh_per_m[k] * np.clip(driven, 0.0, c.exit_m[k] - c.entry_m[k]))

    for i in range(len(ex)):
        k = int(ex.cohort[i])
        ub[xv[i]] = ex.max_kwh[i]
        cost[xv[i]] = -w.user_price_per_kwh * c.count[k]
        if i in yv:
            ub[yv[i]] = ex.max_kwh[i]
            cost[yv[i]] = w.v2g_cost_per_kwh * c.count[k]
            r = row()  # one receiver: charge and V2G share its limit
            r[[xv[i], yv[i]]] = 1.0
            A_ub.append(r)
            b_ub.append(ex.max_kwh[i])
    for k in cohorts:
        n = c.count[k]
        steps = sorted(t for (kk, t) in ev if kk == k)
        for t in steps:
            r = row()  # E_t − E_{t−1} − Σ_s x = −(consumption during t)
            r[ev[(k, t)]] = 1.0
            rhs = -(consumed(k, t + 1) - consumed(k, t))
            if t - 1 in steps:
                r[ev[(k, t - 1)]] = -1.0
            else:
                rhs += c.energy_kwh[k] - consumed(k, t)
            for i in np.flatnonzero((ex.cohort == k) & (ex.step == t)):
                r[xv[i]] = -1.0
                if i in yv:
                    r[yv[i]] = 1.0
            A_eq.append(r)
            b_eq.append(rhs)
            ub[ev[(k, t)]] = c.full_kwh[k]
            lb[ev[(k, t)]] = -np.inf
        trip_end_h = c.entry_h[k] + (c.exit_m[k] - c.entry_m[k]) / c.speed_mps[k] / 3600.0
        if trip_end_h < T * DT:
            last = steps[-1]
            # u ≥ target − (E_last − consumption after the last charging step)
            after = c.consumption_kwh_per_m[k] * (c.exit_m[k] - c.entry_m[k]) - consumed(
                k, last + 1
            )
            r = row()
            r[uv[k]] = -1.0
            r[ev[(k, last)]] = -1.0
            A_ub.append(r)
            b_ub.append(-(c.target_kwh[k] + after))
        cost[uv[k]] = w.shortfall_penalty_per_kwh * n
        mine = [yv[i] for i in np.flatnonzero(ex.cohort == k) if i in yv]
        if mine:  # V2G only out of the energy above the exit need
            r = row()
            r[mine] = 1.0
            trip = c.consumption_kwh_per_m[k] * (c.exit_m[k] - c.entry_m[k])
            A_ub.append(r)
            b_ub.append(max(c.energy_kwh[k] - c.target_kwh[k] - trip, 0.0))
    st = inp.storage
    for t in range(T):
        unit = inp.price_per_kwh[t] + w.carbon_price_per_kg * inp.co2_kg_per_kwh[t]
        for s in range(S):
            road = row()
            for i in np.flatnonzero((ex.step == t) & (ex.substation == s)):
                road[xv[i]] = c.count[ex.cohort[i]] / (ex.efficiency[i] * DT)
            A_ub.append(road.copy())
            b_ub.append(inp.road_rating_kw[s])
            # import − export = road + other − (renewables − curtailed) + charge − discharge
            # − V2G (grid side)
            r = -road
            for i in np.flatnonzero((ex.step == t) & (ex.substation == s)):
                if i in yv:
                    r[yv[i]] = c.count[ex.cohort[i]] * ex.efficiency[i] / DT
            r[grid["imp", t, s]] = 1.0
            r[grid["exp", t, s]] = -1.0
            r[grid["curt", t, s]] -= 1.0
            r[grid["ch", t, s]] -= 1.0
            r[grid["dis", t, s]] += 1.0
            A_eq.append(r)
            b_eq.append(inp.other_load_kw[t, s] - inp.renewable_kw[t, s])
            r = row()  # soc_t = soc_{t−1} + Δ(ηc ch − dis/ηd)
            r[grid["soc", t, s]] = 1.0
            r[grid["ch", t, s]] = -DT * st.charge_efficiency
            r[grid["dis", t, s]] = DT / st.discharge_efficiency
            if t > 0:
                r[grid["soc", t - 1, s]] = -1.0
            A_eq.append(r)
            b_eq.append(st.initial_kwh[s] if t == 0 else 0.0)
            ub[grid["imp", t, s]] = inp.import_limit_kw[t, s]
            ub[grid["exp", t, s]] = inp.export_limit_kw[t, s]
            ub[grid["curt", t, s]] = inp.renewable_kw[t, s]
            ub[grid["ch", t, s]] = st.power_kw[s]
            ub[grid["dis", t, s]] = st.power_kw[s]
            lb[grid["soc", t, s]] = st.energy_min_kwh[s]
            ub[grid["soc", t, s]] = st.energy_max_kwh[s]
            cost[grid["imp", t, s]] = unit * DT
            cost[grid["exp", t, s]] = -w.export_price_per_kwh * DT
            cost[grid["dis", t, s]] = w.degradation_cost_per_kwh * DT
            if t == T - 1:
                cost[grid["soc", t, s]] = -terminal_value
    bounds = list(zip(lb, ub, strict=True))
    res = linprog(cost, A_ub=np.array(A_ub), b_ub=np.array(b_ub), A_eq=np.array(A_eq),
                  b_eq=np.array(b_eq), bounds=bounds, method="highs")  # fmt: skip
    assert res.status == 0, res.message
    return float(res.fun)


def test_lp_agrees_with_an_independent_dense_formulation(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs, storage_value_per_kwh=24.0, time_preference=0.0)
    ours = HighsSession(model).solve()
    theirs = _dense_objective(cohorts, ex, inputs, terminal_value=24.0)
    # ours values the energy *gained*, the dense model the energy *held* at the end
    theirs += 24.0 * inputs.storage.initial_kwh.sum()
    assert ours.objective == pytest.approx(theirs, rel=1e-6)
    # the default tie-break moves the objective by less than its premium
    leaning = CohortLP(cohorts, ex, inputs, storage_value_per_kwh=24.0)
    lean = HighsSession(leaning).solve()
    assert lean.objective == pytest.approx(theirs, rel=2e-5)
    # every constraint group is exercised: V2G, cap, curtailment, storage, shortfall
    assert ours.values[model.offsets["y"] :].sum() > 0.0
    imp = model.block(ours.values, "imp")
    assert np.all(imp[4:6] <= 150.0 + 1e-6)
    assert model.block(ours.values, "curt").sum() > 0.0
    assert model.block(ours.values, "dis").sum() > 0.0
    assert ours.values[model.offsets["u"] : model.offsets["u"] + len(model.u_cohort)].sum() > 0


def test_warm_resolve_after_bound_changes_equals_cold(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs)
    warm = HighsSession(model)
    warm.solve()
    count = cohorts.count * np.linspace(0.5, 1.5, len(cohorts))
    energy = cohorts.energy_kwh - 3.0
    stored = np.full(inputs.n_substations, 600.0)
    for window in [(1, 10), (2, 9), (3, 10)]:
        request = PlanRequest(window=window, count=count, energy_kwh=energy, stored_kwh=stored)
        w = warm.solve(request)
        cold = HighsSession(model).solve(request)
        assert w.objective == pytest.approx(cold.objective, rel=1e-7, abs=1e-6)


def test_a_session_that_frees_highs_between_solves_resumes_from_its_basis(
    tiny: Scenario,
) -> None:
    """Freed after each solve and rebuilt at the next, a session solves every request as a
    resident one does, from the last basis: the same request again takes no iteration."""
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs)
    held, freed = HighsSession(model), HighsSession(model, resident=False)
    assert freed._highs is None  # nothing built before the first solve
    rng = np.random.default_rng(11)
    S = inputs.n_substations
    for k in range(5):
        count = cohorts.count * rng.uniform(0.7, 1.3, len(cohorts))
        request = PlanRequest(window=(k, 10), count=count,
                              stored_kwh=np.full(S, rng.uniform(100.0, 800.0)))  # fmt: skip
        a, b = held.solve(request), freed.solve(request)
        assert b.objective == pytest.approx(a.objective, rel=1e-7, abs=1e-6)
        assert freed._highs is None  # HiGHS freed, its basis kept
        again = freed.solve(request)
        assert again.iterations == 0
        assert again.objective == pytest.approx(b.objective, rel=1e-9, abs=1e-9)
    with pytest.raises(ValueError, match="resident"):
        HighsSession(model, compact=True, resident=False)


def test_a_compact_session_solves_the_same_plans_from_a_smaller_lp(tiny: Scenario) -> None:
    """A compact session takes out what the window fixes at zero and puts it back when a
    later request frees it: the same objective and flows as a full session and as a cold
    solve, window after window (forward, then back to the start), from fewer columns."""
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs, 24.0, 0.0)
    compact = HighsSession(model, compact=True)
    full = HighsSession(model)
    count = cohorts.count * np.linspace(0.5, 1.5, len(cohorts))
    stored = np.full(inputs.n_substations, 500.0)
    held = []
    for window in [(0, 10), (2, 10), (3, 10), (5, 10), (6, 9), (1, 10), (0, 10)]:
        request = PlanRequest(window=window, count=count, stored_kwh=stored)
        c, f = compact.solve(request), full.solve(request)
        cold = HighsSession(model).solve(request)
        assert c.objective == pytest.approx(cold.objective, rel=1e-7, abs=1e-6)
        assert c.objective == pytest.approx(f.objective, rel=1e-7, abs=1e-6)
        for name in ("imp", "road", "soc"):
            planned = model.block(c.values, name).sum(axis=1)
            assert np.allclose(planned, model.block(f.values, name).sum(axis=1), atol=1e-4)
        k0, k1 = window
        for name in ("road", "imp", "ch", "dis"):
            outside = np.r_[0:k0, k1:10]
            assert np.all(model.block(c.values, name)[outside] == 0.0), name
        held.append(compact.held[0])
    assert min(held) < 0.7 * model.n_cols  # the late windows leave most of the model out
    assert held[-1] > held[-3]  # and the first steps come back
    assert full.held == (model.n_cols, model.n_rows)


def test_a_compact_session_keeps_an_infeasible_request_infeasible(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs, 24.0, 0.0)
    session = HighsSession(model, compact=True)
    session.solve(PlanRequest(window=(4, 10)))
    S = inputs.n_substations
    full = np.full(S, 900.0)
    with pytest.raises(InfeasibleSchedule):  # the stored energy cannot stay at its maximum
        session.solve(PlanRequest(window=(4, 10), stored_kwh=full, reserve_kwh=full,
                                  import_limit_kw=np.zeros((10, S))))  # fmt: skip
    again = session.solve(PlanRequest(window=(4, 10)))
    assert again.objective == pytest.approx(
        HighsSession(model).solve(PlanRequest(window=(4, 10))).objective, rel=1e-7
    )


def test_outside_the_window_nothing_flows(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs)
    sol = HighsSession(model).solve(PlanRequest(window=(3, 7)))
    for name in ("road", "imp", "exp", "ch", "dis"):
        block = model.block(sol.values, name)
        assert np.all(block[:3] == 0.0), name
        assert np.all(block[7:] == 0.0), name
    x_steps = ex.step[sol.values[: len(ex)] > 1e-9]
    assert x_steps.min() >= 3
    assert x_steps.max() < 7


def test_impossible_import_cap_is_named(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    S = inputs.n_substations
    no_storage = dataclasses.replace(
        inputs.storage, energy_min_kwh=np.zeros(S), energy_max_kwh=np.zeros(S),
        initial_kwh=np.zeros(S), power_kw=np.zeros(S),
    )  # fmt: skip
    bad = dataclasses.replace(
        inputs, import_limit_kw=np.full_like(inputs.import_limit_kw, 10.0), storage=no_storage
    )
    model = CohortLP(cohorts, ex, bad)
    with pytest.raises(InfeasibleSchedule, match="grid import limits"):
        HighsSession(model).solve()


def test_cohorts_carry_the_expected_ers_traffic(tiny: Scenario) -> None:
    layout = build_layout(tiny)
    index = planning_index(tiny, 1.0, None)
    volume = expected_volume(tiny, index)
    cohorts = forecast_cohorts(tiny, layout, volume, DT, n_bins=3)
    want = sum(volume[f"{c}_{d}"].sum() * ers_fraction(tiny, c) for c in tiny.vehicles
               for d in "AB")  # fmt: skip
    assert cohorts.count.sum() == pytest.approx(want, rel=1e-12)


def test_exposure_is_the_same_whatever_the_chunk(
    tiny: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exposures are summed chunk of cohorts by chunk: any chunk gives the same arrays,
    in the same order, as one chunk holding every cohort."""
    layout = build_layout(tiny)
    index = planning_index(tiny, 1.0, None)[24:48]
    cohorts = forecast_cohorts(tiny, layout, expected_volume(tiny, index) * 3.0, DT,
                               first_step=-4, n_bins=2)  # fmt: skip
    whole = exposure(cohorts, layout, 20, DT)
    assert len(whole) > 100
    for pairs in (1, 37, 500):
        monkeypatch.setattr(cohorts_module, "_CHUNK_PAIRS", pairs)
        part = exposure(cohorts, layout, 20, DT)
        for name in ("cohort", "step", "substation", "max_kwh", "efficiency"):
            assert np.array_equal(getattr(part, name), getattr(whole, name)), (pairs, name)
    assert np.all(np.diff((whole.cohort * 20 + whole.step) * layout.n_substations
                          + whole.substation) > 0)  # fmt: skip


def test_exposure_of_one_vehicle_matches_hand_calculation(tiny: Scenario) -> None:
    # tiny: coils from km 3 to 7 (8 segments of 500 m each way), coverage 0.8, 120 kW/vehicle
    layout = build_layout(tiny)
    one = Cohorts(
        direction=np.array([0]), vclass=np.array([0]), entry_step=np.array([0]),
        entry_h=np.array([0.2]), entry_m=np.array([0.0]), exit_m=np.array([10_000.0]),
        entry_ic=np.array([0]), exit_ic=np.array([2]), soc_bin=np.array([0]),
        speed_mps=np.array([100 / 3.6]), count=np.array([1.0]), energy_kwh=np.array([30.0]),
        target_kwh=np.array([24.0]), full_kwh=np.array([57.0]), receiver_kw=np.array([40.0]),
        consumption_kwh_per_m=np.array([0.00017]), v2g=np.array([0.0]),
    )  # fmt: skip
    ex = exposure(one, layout, 4, DT)
    # 4 km of coils at 100 km/h = 0.04 h at 40 kW × 0.8 → 1.28 kWh; enters them at
    # 0.2 + 0.03 h = 0.23 h and leaves at 0.27 h: split over steps 0 (to 0.25 h) and 1
    assert ex.max_kwh.sum() == pytest.approx(1.28, rel=1e-9)
    assert list(ex.step) == [0, 1]
    assert ex.max_kwh[0] == pytest.approx(40 * 0.8 * 0.02, rel=1e-9)
    assert np.allclose(ex.efficiency, 0.88)


def test_entry_soc_bins_are_equal_probability() -> None:
    means, edges = entry_soc_bins(0.5, 0.15, 0.05, 0.95, 4)
    assert edges[0] == pytest.approx(0.05)
    assert edges[-1] == pytest.approx(0.95)
    assert means[1] < 0.5 < means[2]
    assert np.all(np.diff(means) > 0)
    assert means.mean() == pytest.approx(0.5, abs=1e-3)


def test_time_limit_applies_per_solve_not_per_session(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs)
    session = HighsSession(model, time_limit_s=0.05)
    count = cohorts.count.copy()
    for k in range(120):  # together ~0.2 s, each ~2 ms
        count *= 1.001
        session.solve(PlanRequest(window=(k % 5, 10), count=count))
    assert session.solves == 120


def _with_v2g_cost(inputs: PlanInputs, cost_per_kwh: float) -> PlanInputs:
    w = dataclasses.replace(inputs.weights, v2g_cost_per_kwh=cost_per_kwh)
    return dataclasses.replace(inputs, weights=w)


def test_v2g_discharges_only_when_the_avoided_price_beats_its_cost(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    # a kWh returned from a battery is worth at most the dearest import price × efficiency
    worth = float(inputs.price_per_kwh.max() + 0.437 * inputs.weights.carbon_price_per_kg)
    worth *= float(ex.efficiency.max())
    uncapped = dataclasses.replace(
        inputs, import_limit_kw=np.full_like(inputs.import_limit_kw, 1e6)
    )
    for cost, used in ((worth * 1.01, False), (worth * 0.5, True)):
        model = CohortLP(cohorts, ex, _with_v2g_cost(uncapped, cost), 24.0, 0.0)
        sol = HighsSession(model).solve()
        assert (sol.values[model.offsets["y"] :].sum() > 1e-6) == used, cost
    # under the import cap V2G also relieves the cap (vehicles that need energy get it), but
    # a huge wear cost leaves it unused and the cap binds
    model = CohortLP(cohorts, ex, _with_v2g_cost(inputs, 1e6), 24.0, 0.0)
    sol = HighsSession(model).solve()
    assert sol.values[model.offsets["y"] :].sum() == 0.0
    assert np.any(np.isclose(model.block(sol.values, "imp")[4:6], 150.0))


def test_v2g_never_plans_a_vehicle_below_its_exit_need(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, _with_v2g_cost(inputs, 0.0), 24.0, 0.0)
    sol = HighsSession(model).solve()
    c = cohorts
    o = model.offsets
    y = sol.values[o["y"] :]
    assert y.sum() > 0.0
    cum = sol.values[o["cum"] : o["cum"] + len(model.full_cohort)]
    fc = model.full_cohort
    trip = c.consumption_kwh_per_m[fc] * (c.exit_m[fc] - c.entry_m[fc])
    # energy now − what the rest of the trip consumes ≥ exit target, i.e. cum ≥ n·need
    need = (c.target_kwh[fc] + trip - c.energy_kwh[fc]) * c.count[fc]
    discharged = np.bincount(
        np.searchsorted(fc * inputs.n_steps + model.full_step,
                        ex.cohort[model.y_x] * inputs.n_steps + ex.step[model.y_x]),
        weights=y, minlength=len(fc),
    )  # fmt: skip
    after = discharged > 1e-9
    assert np.any(after)
    assert np.all(cum[after] >= need[after] - 1e-6)
    # only V2G cohorts discharge, within their exposure
    assert np.all(c.v2g[ex.cohort[model.y_x]] == 1.0)
    cap = c.count[ex.cohort[model.y_x]] * ex.max_kwh[model.y_x]
    assert np.all(sol.values[model.y_x] + y <= cap + 1e-6)  # one receiver: charge or return


def test_demand_charge_lowers_the_planned_peak(tiny: Scenario) -> None:
    cohorts, ex, inputs = _instance(tiny)
    uncapped = dataclasses.replace(
        inputs, import_limit_kw=np.full_like(inputs.import_limit_kw, 1e6)
    )
    peaks = []
    for charge in (0.0, 500.0):
        w = dataclasses.replace(uncapped.weights, demand_charge_per_kw=charge)
        model = CohortLP(cohorts, ex, dataclasses.replace(uncapped, weights=w), 24.0, 0.0)
        sol = HighsSession(model).solve()
        total = model.block(sol.values, "imp").sum(axis=1)
        assert sol.values[model.offsets["peak"]] >= total.max() - 1e-6
        peaks.append(float(total.max()))
    assert peaks[1] < peaks[0] * 0.95
    # a floor already reached leaves the plan free up to it
    w = dataclasses.replace(uncapped.weights, demand_charge_per_kw=500.0)
    model = CohortLP(cohorts, ex, dataclasses.replace(uncapped, weights=w), 24.0, 0.0)
    sol = HighsSession(model).solve(PlanRequest(peak_floor_kw=peaks[0]))
    assert sol.values[model.offsets["peak"]] == pytest.approx(peaks[0])


def test_v2g_cannot_pump_money_through_a_vehicle(tiny: Scenario) -> None:
    # selling a kWh to a vehicle and taking it back must not pay: the owner is refunded the
    # user price of every kWh returned, on top of wear and payment
    cohorts, ex, inputs = _instance(tiny)
    uncapped = dataclasses.replace(
        inputs, import_limit_kw=np.full_like(inputs.import_limit_kw, 1e6)
    )
    w = ObjectiveWeights.from_scenario(tiny)
    assert w.v2g_cost_per_kwh >= w.user_price_per_kwh
    wear_only = w.v2g_cost_per_kwh - w.user_price_per_kwh
    for cost, pumps in ((wear_only, True), (w.v2g_cost_per_kwh, False)):
        model = CohortLP(cohorts, ex, _with_v2g_cost(uncapped, cost), 24.0, 0.0)
        sol = HighsSession(model).solve()
        assert (sol.values[model.offsets["y"] :].sum() > 1e-6) == pumps, cost


def test_a_timed_out_solve_keeps_its_basis_for_the_next(tiny: Scenario) -> None:
    from ersgrid.errors import InfeasibleSchedule

    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs, 24.0, 0.0)
    cold = HighsSession(model).solve()
    session = HighsSession(model, time_limit_s=0.0)
    with pytest.raises(InfeasibleSchedule) as failed:
        session.solve()
    assert failed.value.timed_out
    session.set_time_limit(60.0)
    again = session.solve()
    assert again.objective == pytest.approx(cold.objective, rel=1e-9)


def test_a_reserve_keeps_stored_energy_at_every_step(tiny: Scenario) -> None:
    """The plan keeps the reserve (or what the battery holds, if less) in every step of the
    window, and the stored energy asked for at the window's end; it costs the plan money."""
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs, 24.0, 0.0)
    session = HighsSession(model)
    st = inputs.storage
    free = session.solve(PlanRequest(window=(1, 10), stored_kwh=st.energy_max_kwh * 0.9))
    soc = model.block(free.values, "soc")[1:10]
    assert soc.min() < 0.7 * st.energy_max_kwh.max()  # without a reserve it is spent
    for stored_share in (0.9, 0.3):
        stored = st.energy_max_kwh * stored_share
        reserve = st.energy_max_kwh * 0.7
        end = st.energy_max_kwh * 0.8
        sol = session.solve(PlanRequest(window=(1, 10), stored_kwh=stored, reserve_kwh=reserve,
                                        terminal_kwh=end))  # fmt: skip
        soc = model.block(sol.values, "soc")[1:10]
        kept = np.minimum(reserve, stored)
        assert np.all(soc >= kept - 1e-6)
        assert np.all(soc[-1] >= end - 1e-6)
        if stored_share == 0.9:
            assert sol.objective > free.objective


def test_a_path_keeps_stored_energy_step_by_step(tiny: Scenario) -> None:
    """``path_kwh`` is a least stored energy per step: kept where it is finite, clipped to the
    battery's limit, and no bound where it is NaN; it costs the plan money."""
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs, 24.0, 0.0)
    session = HighsSession(model)
    st = inputs.storage
    S = inputs.n_substations
    stored = st.energy_max_kwh * 0.9
    free = session.solve(PlanRequest(window=(1, 10), stored_kwh=stored))
    free_soc = model.block(free.values, "soc")
    assert free_soc[2:5].min() < 0.7 * stored.max()  # without a path the dear steps spend it
    path = np.full((10, S), np.nan)
    path[2:5] = stored * 0.8  # keep 80 % of it over the dear steps
    path[8] = st.energy_max_kwh * 2.0  # above the limit: clipped to it
    sol = session.solve(PlanRequest(window=(1, 10), stored_kwh=stored, path_kwh=path))
    soc = model.block(sol.values, "soc")
    assert np.all(soc[2:5] >= stored * 0.8 - 1e-6)
    assert np.all(soc[8] >= st.energy_max_kwh - 1e-6)
    assert np.all(soc[9] < soc[8] - 1.0)  # no bound where the path is NaN: spent again
    assert sol.objective > free.objective


def test_guide_path_lowers_the_guide_by_what_each_battery_lacks_now() -> None:
    from ersgrid.control.guide import guide_path

    nan = np.nan
    # run steps 0..5, two substations; the guide was solved at step 2 (NaN before)
    guide = np.array([[nan, nan], [nan, nan], [500.0, 300.0], [450.0, 320.0],
                      [400.0, 340.0], [600.0, 360.0]])  # fmt: skip
    stored = np.array([420.0, 330.0])  # at the start of step 3: 80 kWh short, 10 kWh over
    path = guide_path(guide, origin=1, n_steps=6, step=3, stored_kwh=stored)
    expected = np.array([[nan, nan], [420.0, 300.0], [370.0, 320.0], [320.0, 340.0],
                         [520.0, 360.0], [nan, nan]])  # fmt: skip
    np.testing.assert_allclose(path, expected)
    # at the guide's own first step nothing is lacking: the guide itself
    at_guide = guide_path(guide, origin=2, n_steps=3, step=2, stored_kwh=stored)
    np.testing.assert_allclose(at_guide, guide[2:5])


def test_coarser_entry_steps_conserve_vehicles_energy_need_and_capacity(tiny: Scenario) -> None:
    from ersgrid.optimize.cohorts import coarsen_entry_steps, window_last_step

    layout = build_layout(tiny)
    index = planning_index(tiny, 1.0, None)[30:50]
    fine = forecast_cohorts(tiny, layout, expected_volume(tiny, index), DT, first_step=-6)
    fine, ex = drop_idle(fine, exposure(fine, layout, 14, DT))
    assert coarsen_entry_steps(fine, ex, 1) == (fine, ex)
    coarse, cex = coarsen_entry_steps(fine, ex, 4, offset=30)
    assert len(coarse) < len(fine) / 3
    assert len(cex) <= len(ex)  # members occupy other cells at a time: few shared

    def need_kwh(c: Cohorts) -> float:
        trip = c.consumption_kwh_per_m * (c.exit_m - c.entry_m)
        return float((c.count * (c.target_kwh - c.energy_kwh + trip)).sum())

    def capacity(c: Cohorts, e: Exposure) -> tuple[np.ndarray, np.ndarray]:
        cell = e.step * layout.n_substations + e.substation
        kwh = c.count[e.cohort] * e.max_kwh
        return np.bincount(cell, kwh, 14 * layout.n_substations), np.bincount(
            cell, kwh / e.efficiency, 14 * layout.n_substations
        )

    assert coarse.count.sum() == pytest.approx(fine.count.sum(), rel=1e-12)
    assert need_kwh(coarse) == pytest.approx(need_kwh(fine), rel=1e-12)
    # every step's and substation's charging capacity (battery and grid side) is kept
    for a, b in zip(capacity(coarse, cex), capacity(fine, ex), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    # windows of 4 run steps: model step -6 is run step 24, which starts a window
    assert np.array_equal(window_last_step(np.array([-6, -3, -2, 1]), 4, 30), [-3, -3, 1, 1])
    assert set(coarse.entry_step) <= set(window_last_step(fine.entry_step, 4, 30))
    # each merged cohort enters within its window (mean of its members' entry times), a
    # window begun before the model at its latest member's entry
    assert np.all(coarse.entry_h >= (coarse.entry_step - 3) * DT)
    assert np.all(coarse.entry_h <= (coarse.entry_step + 1) * DT)
    began = coarse.entry_step < 3
    assert np.allclose(coarse.entry_h[began], (coarse.entry_step[began] + 0.5) * DT)
    assert np.any(coarse.entry_h[~began] < (coarse.entry_step[~began] + 0.5) * DT - 1e-9)
    with pytest.raises(ValueError, match="width"):
        coarsen_entry_steps(fine, ex, 0)


def _hand_built() -> CohortLP:
    """Two steps of 15 min at one substation, written by hand (no scenario):

    - cohort A, 2 vehicles, no V2G: 8 kWh a vehicle can take at step 0, 5 at step 1, both at
      80 % efficiency; enters with 20 kWh, needs 25 at its exit (step 1), full at 27;
    - cohort B, 1 vehicle, V2G: 4 kWh at step 1 (80 %); 30 kWh, needs 27, full at 40;
    - import 10 then 100 per kWh, user price 50, V2G costs 30 per kWh, demand charge 1 per
      kW, no export; 200 kW other load, 30 kW PV; a 100 kWh battery holding 50 kWh,
      40 kW, 90 % each way, its energy valued at 40 per kWh at the end (so it charges in
      the cheap step and discharges in the dear one). Nothing consumed on the way (so needs
      are plain differences).
    """
    one = np.ones(2)
    cohorts = Cohorts(
        direction=np.zeros(2, dtype=np.int64), vclass=np.zeros(2, dtype=np.int64),
        entry_step=np.array([0, 1]), entry_h=np.array([0.05, 0.3]),
        entry_m=np.zeros(2), exit_m=np.array([14_400.0, 3_600.0]),
        entry_ic=np.zeros(2, dtype=np.int64), exit_ic=np.ones(2, dtype=np.int64),
        soc_bin=np.zeros(2, dtype=np.int64), speed_mps=np.array([10.0, 10.0]),
        count=np.array([2.0, 1.0]), energy_kwh=np.array([20.0, 30.0]),
        target_kwh=np.array([25.0, 27.0]), full_kwh=np.array([27.0, 40.0]),
        receiver_kw=one * 100.0, consumption_kwh_per_m=np.zeros(2), v2g=np.array([0.0, 1.0]),
    )  # fmt: skip
    ex = Exposure(
        cohort=np.array([0, 0, 1]), step=np.array([0, 1, 1]), substation=np.zeros(3, np.int64),
        max_kwh=np.array([8.0, 5.0, 4.0]), efficiency=np.full(3, 0.8),
    )  # fmt: skip
    col = np.ones((2, 1))
    inputs = PlanInputs(
        step_h=0.25, price_per_kwh=np.array([10.0, 100.0]), co2_kg_per_kwh=np.zeros(2),
        other_load_kw=200.0 * col, renewable_kw=30.0 * col, import_limit_kw=np.inf * col,
        export_limit_kw=0.0 * col, road_rating_kw=np.array([1000.0]),
        weights=ObjectiveWeights(
            user_price_per_kwh=50.0, export_price_per_kwh=0.0, carbon_price_per_kg=0.0,
            degradation_cost_per_kwh=0.0, shortfall_penalty_per_kwh=1000.0,
            v2g_cost_per_kwh=30.0, demand_charge_per_kw=1.0,
        ),
        storage=StorageArrays(np.array([0.0]), np.array([100.0]), np.array([50.0]),
                              np.array([40.0]), 0.9, 0.9),
        # one bus whose voltage falls 1e-4 p.u. per kW drawn, band 0.95 .. 1.05 p.u.
        network=network_rows(np.full((2, 1, 1), -1e-4), np.array([0.95]), np.array([1.05]),
                             ("voltage Bus R",)),
    )  # fmt: skip
    return CohortLP(cohorts, ex, inputs, storage_value_per_kwh=40.0, time_preference=0.0)


def test_each_row_family_has_its_rows() -> None:
    from ersgrid.optimize.rows import ROW_FAMILIES

    model = _hand_built()
    sizes = {"cumdef": 3, "short": 2, "roaddef": 2, "balance": 2, "soc": 2, "peak": 2,
             "v2gcap": 1, "receiver": 1, "network": 2}  # fmt: skip
    assert list(model.row_offsets) == list(ROW_FAMILIES)
    assert {n: f.entries(model).n_rows for n, f in ROW_FAMILIES.items()} == sizes
    starts = np.cumsum([0, *sizes.values()])
    assert list(model.row_offsets.values()) == list(starts[:-1])
    assert model.n_rows == starts[-1]
    b = model.bounds()
    assert len(b.row_lower) == len(b.row_upper) == model.n_rows
    for family in ROW_FAMILIES.values():
        e = family.entries(model)
        assert e.row.min() >= 0, family.name
        assert e.row.max() < e.n_rows, family.name
        # every row of the family has an entry
        assert len(np.unique(e.row)) == e.n_rows, family.name
        assert len(family.bounds(model, model.frame())[0]) == e.n_rows, family.name


def test_each_row_family_solved_by_hand() -> None:
    """The hand-built case (see :func:`_hand_built`) solved by HiGHS against its solution
    worked out by hand: cheap step 0, dear step 1."""
    from ersgrid.optimize.rows import ROW_FAMILIES

    model = _hand_built()
    o = model.offsets
    session = HighsSession(model)
    sol = session.solve()
    v = sol.values

    def block(name: str) -> np.ndarray:
        return model.block(v, name)[:, 0]

    def u() -> np.ndarray:
        return v[o["u"] : o["u"] + 2]

    def cumdef() -> None:
        # A charges in the cheap step up to full: 2 × (27 − 20) = 14 of the 16 it could take
        np.testing.assert_allclose(v[:3], [14.0, 0.0, 0.0], atol=1e-9)
        np.testing.assert_allclose(v[o["cum"] : o["cum"] + 3], [14.0, 14.0, -3.0], atol=1e-9)

    def short() -> None:
        np.testing.assert_allclose(u(), 0.0, atol=1e-9)  # 14 ≥ 2 × (25 − 20)
        # entering with 12 kWh: 2 × 13 = 26 needed, met at the dear step too (16 + 10)
        need = session.solve(PlanRequest(energy_kwh=np.array([12.0, 30.0]))).values
        np.testing.assert_allclose(need[:2], [16.0, 10.0], atol=1e-9)
        # with 5 kWh: 2 × 20 = 40 needed, 26 possible, 14 short
        lack = session.solve(PlanRequest(energy_kwh=np.array([5.0, 30.0]))).values
        np.testing.assert_allclose(lack[o["u"] : o["u"] + 2], [14.0, 0.0], atol=1e-9)

    def roaddef() -> None:
        np.testing.assert_allclose(block("road"), [14.0 / (0.8 * 0.25), 0.0], atol=1e-9)

    def balance() -> None:
        # 70 road + 200 − 30 + 40 charging; 200 − 30 − 40 discharging − 3 × 0.8 / 0.25 V2G
        np.testing.assert_allclose(block("imp"), [280.0, 120.4], atol=1e-9)

    def soc() -> None:
        np.testing.assert_allclose(block("ch"), [40.0, 0.0], atol=1e-9)
        np.testing.assert_allclose(block("dis"), [0.0, 40.0], atol=1e-9)
        expected = [50.0 + 0.25 * 0.9 * 40.0, 50.0 + 9.0 - 0.25 * 40.0 / 0.9]
        np.testing.assert_allclose(block("soc"), expected, atol=1e-9)

    def peak() -> None:
        assert v[o["peak"]] == pytest.approx(280.0)

    def v2gcap() -> None:
        # B returns its surplus 30 − 27 = 3 at the dear step (worth 100 × 0.8 > 30)
        np.testing.assert_allclose(v[o["y"] :], [3.0], atol=1e-9)

    def receiver() -> None:
        # with 34 kWh its surplus is 7, but its receiver takes or gives 4 at most
        more = session.solve(PlanRequest(energy_kwh=np.array([20.0, 34.0]))).values
        np.testing.assert_allclose(more[o["y"] :], [4.0], atol=1e-9)

    def network() -> None:
        # no network_base in the request: the rows are free and the plan is the one above
        np.testing.assert_allclose(model.network_slack(v), 0.0, atol=1e-12)
        # at 0.975 p.u. with no draw, the bus stays in band up to 250 kW: the 30 kW over it
        # come off the battery's charge (it loses 40 × 0.9 × 0.25 − 2.5 = 6.5 per kW, the
        # road 50 × 0.8 × 0.25 − 2.5 = 7.5)
        request = PlanRequest(network_base=np.array([[0.975], [1.0]]))
        assert model.network_values(v, request.network_base)[0, 0] == pytest.approx(0.947)
        held = session.solve(request).values
        np.testing.assert_allclose(model.block(held, "imp")[:, 0], [250.0, 120.4], atol=1e-9)
        np.testing.assert_allclose(model.block(held, "ch")[:, 0], [10.0, 0.0], atol=1e-9)
        np.testing.assert_allclose(model.network_values(held, request.network_base),
                                   [[0.95], [0.98796]], atol=1e-12)  # fmt: skip
        assert model.network_held(held, request).tolist() == [[True], [False]]
        # at 0.96 p.u. in the dear step the site's own 120.4 kW (battery and V2G already at
        # their most) are 20.4 kW over: reported as slack, 0.00204 p.u., not infeasible
        short_v = PlanRequest(network_base=np.array([[1.0], [0.96]]))
        over = session.solve(short_v)
        np.testing.assert_allclose(model.block(over.values, "imp")[:, 0], [280.0, 120.4],
                                   atol=1e-9)  # fmt: skip
        np.testing.assert_allclose(model.network_slack(over.values), [[0.0], [0.00204]],
                                   atol=1e-12)  # fmt: skip
        assert over.objective == pytest.approx(sol.objective + 20.4 * 10.0 * 1000.0 * 0.25)

    checks = {f.__name__: f for f in (cumdef, short, roaddef, balance, soc, peak, v2gcap,
                                      receiver, network)}  # fmt: skip
    assert set(checks) == set(ROW_FAMILIES)  # every family has its case
    energy = 2.5 * 280.0 + 25.0 * 120.4 - 50.0 * 14 + 30.0 * 3 + 280.0
    stored = -40.0 * 0.9 * 0.25 * 40.0 + 40.0 * 0.25 / 0.9 * 40.0
    assert sol.objective == pytest.approx(energy + stored)
    for check in checks.values():
        check()


def test_a_session_sends_only_what_changed_and_holds_each_request(tiny: Scenario) -> None:
    """After every solve HiGHS holds exactly the bounds of the request (sent as changes to
    the last one), and solves it as a fresh session would."""
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs)
    session = HighsSession(model)
    first = session.solve()
    assert first.sent == 0  # the whole model's bounds went in with the model
    assert session.solve().sent == 0
    rng = np.random.default_rng(5)
    S = inputs.n_substations
    for k in range(1, 6):
        count = cohorts.count * rng.uniform(0.7, 1.3, len(cohorts))
        request = PlanRequest(window=(k, min(k + 5, 10)), count=count,
                              stored_kwh=np.full(S, rng.uniform(100.0, 800.0)))  # fmt: skip
        b = model.bounds(request)
        last = session._sent
        assert last is not None
        changed = sum(
            int(
                np.sum(
                    (getattr(b, lo) != getattr(last, lo)) | (getattr(b, hi) != getattr(last, hi))
                )
            )
            for lo, hi in (("col_lower", "col_upper"), ("row_lower", "row_upper"))
        )
        warm = session.solve(request)  # fmt: skip
        assert warm.sent == changed < model.n_cols + model.n_rows
        lp = session._highs.getLp()
        for held, want in ((lp.col_lower_, b.col_lower), (lp.col_upper_, b.col_upper),
                           (lp.row_lower_, b.row_lower), (lp.row_upper_, b.row_upper)):  # fmt: skip
            np.testing.assert_array_equal(np.asarray(held), want)
        cold = HighsSession(model).solve(request)
        assert warm.objective == pytest.approx(cold.objective, rel=1e-7, abs=1e-6)


def test_a_moving_window_never_frees_a_bound(tiny: Scenario) -> None:
    """As the window moves on (start and end), no column or row bound goes from finite to
    infinite, except the columns of the step that enters the window (fixed at zero before):
    a freed bound would leave the warm basis dual infeasible there."""
    cohorts, ex, inputs = _instance(tiny)
    model = CohortLP(cohorts, ex, inputs)
    S = inputs.n_substations
    last = None
    entered = 0
    for k in range(0, 8):
        b = model.bounds(PlanRequest(window=(k, min(k + 4, 10)), stored_kwh=np.full(S, 400.0)))
        if last is not None:
            opened = (last.col_lower == 0.0) & (last.col_upper == 0.0)
            for side in ("col_lower", "col_upper", "row_lower", "row_upper"):
                freed = np.isfinite(getattr(last, side)) & ~np.isfinite(getattr(b, side))
                if side.startswith("col"):
                    entered += int((freed & opened).sum())
                    freed &= ~opened
                assert not freed.any(), (k, side, np.flatnonzero(freed)[:5])
        last = b
    assert entered > 0  # import columns without a cap, as their step enters
    # and the plan carries the window's last stored energy past its end, charge-free
    sol = HighsSession(model).solve(PlanRequest(window=(2, 6), stored_kwh=np.full(S, 400.0)))
    soc = model.block(sol.values, "soc")
    np.testing.assert_allclose(soc[6:], np.broadcast_to(soc[5], soc[6:].shape))
    np.testing.assert_array_equal(soc[1], 400.0)
    assert np.all(soc[0] == 0.0)
