"""``ersgrid size``: the sizing LP against the day models, the twin and a sweep; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.control.base import RunContext
from ersgrid.control.oracle import Oracle, hindsight_model
from ersgrid.errors import ScenarioError
from ersgrid.optimize.sizing import SizingLP
from ersgrid.optimize.solver import HighsSession
from ersgrid.run.runner import run
from ersgrid.scenario.loader import load_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.study.economics import annual_cost_per_unit
from ersgrid.study.sizing import (
    SizingOptions,
    build_sizing,
    capacities,
    realised_cost,
    size_storage,
    start_vehicles,
    storage_sweep,
    with_sizes,
    year_scale,
)
from ersgrid.study.typical_days import TypicalDays, typical_days
from ersgrid.timeindex import planning_index
from ersgrid.world.world import build_world

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    return load_scenario("tiny")


@pytest.fixture(scope="module")
def two_days(tiny: Scenario) -> TypicalDays:
    return typical_days(tiny, 2)


def _with_prices(sc: Scenario, **prices: float) -> Scenario:
    return sc.model_copy(update={"economics": sc.economics.model_copy(update=prices)})


def _day_objectives(sc: Scenario, typical: TypicalDays) -> float:
    """Σ weight × the oracle's own LP objective of each day (the scenario's batteries)."""
    total = 0.0
    for day, w in zip(typical.dates, typical.weights, strict=True):
        world = build_world(sc, planning_index(sc, 1.0, day))
        context = RunContext(world=world, energy=world.energy, layout=world.layout)
        model = hindsight_model(context, vehicles=start_vehicles(world))
        total += w * HighsSession(model, threads=1).solve().objective
    return total * year_scale(sc, typical)


@pytest.mark.parametrize("k", [1, 2])
def test_a_fixed_size_costs_what_the_day_models_with_that_size_cost(tiny: Scenario, k: int) -> None:
    # with one typical day the year's peak is that day's: a demand charge bills the same
    tariff = tiny.tariff.model_copy(update={"demand_charge_per_kw": 20.0 if k == 1 else 0.0})
    sc = tiny.model_copy(update={"tariff": tariff})
    typical = typical_days(sc, k)
    e, p = 120.0, 60.0
    s = size_storage(sc, typical, options=SizingOptions((e, e), (p, p), profile_points=0))
    assert s.sizes["storage_energy_kwh"] == pytest.approx(e)
    capital = e * annual_cost_per_unit(sc, "storage_energy_kwh")
    capital += p * annual_cost_per_unit(sc, "storage_power_kw")
    expected = capital + _day_objectives(with_sizes(sc, e, p), typical)
    assert s.annual_cost == pytest.approx(expected, rel=1e-6)
    assert sum(s.breakdown.values()) == pytest.approx(s.annual_cost, rel=1e-9)


def test_the_day_lps_plan_within_the_network_as_the_oracle_does(tiny: Scenario) -> None:
    # a loading limit that binds on tiny: the oracle plans within it (slack where it cannot)
    grid = tiny.grid.model_copy(update={"loading_max_pct": 60.0}) if tiny.grid else None
    sc = tiny.model_copy(update={"grid": grid})
    typical = typical_days(sc, 1)
    e, p = 120.0, 60.0
    seen = size_storage(sc, typical, options=SizingOptions((e, e), (p, p), profile_points=0))
    blind = size_storage(
        sc, typical, options=SizingOptions((e, e), (p, p), network=False, profile_points=0)
    )
    sized = with_sizes(sc, e, p)
    oracle = Oracle(replan_steps=0)
    run(sized, oracle, days=1, start=typical.dates[0])
    capital = e * annual_cost_per_unit(sc, "storage_energy_kwh")
    capital += p * annual_cost_per_unit(sc, "storage_power_kw")
    planned = capital + oracle.planned_objective * typical.weights[0] * year_scale(sc, typical)
    assert seen.annual_cost == pytest.approx(planned, rel=1e-6)
    assert seen.breakdown["network_penalty"] > 0.0
    assert sum(seen.breakdown.values()) == pytest.approx(seen.annual_cost, rel=1e-9)
    assert blind.annual_cost < 0.99 * seen.annual_cost  # blind to the limit: too optimistic
    assert blind.breakdown["network_penalty"] == 0.0


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_cost_grows_and_size_shrinks_with_capex(
    tiny: Scenario, two_days: TypicalDays, factor: float
) -> None:
    base = tiny.economics
    runs = [
        size_storage(
            _with_prices(tiny, storage_per_kwh=base.storage_per_kwh * f,
                         storage_per_kw=base.storage_per_kw * f),
            two_days, options=SizingOptions(profile_points=0),
        )
        for f in (1.0, factor)
    ]  # fmt: skip
    low, high = sorted(runs, key=lambda s: s.unit_costs["storage_energy_kwh"])
    assert high.annual_cost >= low.annual_cost - 1e-6 * abs(low.annual_cost)
    assert high.sizes["storage_energy_kwh"] <= low.sizes["storage_energy_kwh"] + 1e-6
    assert high.sizes["storage_power_kw"] <= low.sizes["storage_power_kw"] + 1e-6


def test_the_sizes_are_interior_and_the_profile_has_its_minimum_there(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    s = size_storage(tiny, two_days, options=SizingOptions(profile_points=5))
    assert s.sizes["storage_energy_kwh"] > 1.0
    assert s.sizes["storage_power_kw"] > 1.0
    for points in s.profile.values():
        costs = [c for _, c in points]
        assert min(costs) >= s.annual_cost - 1e-6 * abs(s.annual_cost)  # the LP's optimum
        assert costs[0] > s.annual_cost  # no storage costs more


def test_the_twin_realises_the_estimate_within_3_percent(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    s = size_storage(tiny, two_days, options=SizingOptions(profile_points=0))
    sized = with_sizes(tiny, s.sizes["storage_energy_kwh"], s.sizes["storage_power_kw"])
    realised, kpis = realised_cost(sized, two_days)
    assert realised == pytest.approx(s.annual_cost, rel=0.03)
    bought = kpis["import_cost"] * year_scale(tiny, two_days)
    assert bought == pytest.approx(s.breakdown["energy_bought"], rel=0.03)


def test_under_a_demand_charge_the_twin_keeps_the_sized_peak_as_its_target(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    # the sizing prices one peak for the year; each day's oracle, given it as the demand
    # target, keeps under it instead of paying its own peak at the daily rate
    tariff = tiny.tariff.model_copy(update={"demand_charge_per_kw": 60.0})
    sc = tiny.model_copy(update={"tariff": tariff})
    s = size_storage(sc, two_days, options=SizingOptions(profile_points=0))
    e, p, peak = (s.sizes[k] for k in ("storage_energy_kwh", "storage_power_kw", "year_peak_kw"))
    realised, kpis = realised_cost(with_sizes(sc, e, p, demand_target_kw=peak), two_days)
    assert kpis["peak_import_kw"] <= peak * (1.0 + 1e-3)  # the 1-s sharing within a step
    assert realised == pytest.approx(s.annual_cost, rel=0.03)
    assert kpis["demand_charge"] * year_scale(sc, two_days) == pytest.approx(
        s.breakdown["demand_charge"], rel=1e-3
    )


def test_a_sweep_of_storage_energy_finds_the_chosen_size(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    power = 50.0
    s = size_storage(tiny, two_days, options=SizingOptions(power_kw=(power, power),
                                                          profile_points=0))  # fmt: skip
    chosen = s.sizes["storage_energy_kwh"]
    step = 20.0
    grid = np.arange(0.0, 5) * step
    assert grid[0] < chosen < grid[-1]
    costs = storage_sweep(tiny, two_days, grid.tolist(), power)
    best = float(grid[int(np.argmin(costs))])
    assert abs(best - chosen) <= step


def test_a_connection_fixed_at_its_limit_adds_only_its_capital(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    limit = 1500.0  # tiny's grid.connections import_limit_kw
    plain = size_storage(tiny, two_days, options=SizingOptions(profile_points=0))
    fixed = size_storage(
        tiny,
        two_days,
        options=SizingOptions(connections=True, capacity_kw=(limit, limit), profile_points=0),
    )
    capital = limit * annual_cost_per_unit(tiny, "import_capacity_kw")
    assert fixed.breakdown["connection_capital"] == pytest.approx(capital)
    assert fixed.annual_cost == pytest.approx(plain.annual_cost + capital, rel=1e-7)


def test_sized_connections_carry_the_peak_and_the_twin_realises_them(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    s = size_storage(tiny, two_days, options=SizingOptions(connections=True, profile_points=0))
    caps = capacities(s)
    assert set(caps) == {"SS-Test"}
    # one connection: its capacity is the corridor's peak, below the scenario's limit
    assert caps["SS-Test"] == pytest.approx(s.sizes["year_peak_kw"], rel=1e-6)
    assert caps["SS-Test"] < 1500.0
    sized = with_sizes(tiny, s.sizes["storage_energy_kwh"], s.sizes["storage_power_kw"], caps)
    realised, _ = realised_cost(sized, two_days, connections=list(caps))
    assert realised == pytest.approx(s.annual_cost, rel=0.03)


def test_connections_need_a_grid_section(tiny: Scenario, two_days: TypicalDays) -> None:
    with pytest.raises(ScenarioError, match=r"grid\.connections"):
        size_storage(
            tiny.model_copy(update={"grid": None}),
            two_days,
            options=SizingOptions(connections=True),
        )


def test_pv_fixed_at_the_scenarios_arrays_adds_only_their_capital(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    kwp = 200.0  # tiny's roof PV at SS-Test
    plain = size_storage(tiny, two_days, options=SizingOptions(profile_points=0))
    fixed = size_storage(
        tiny, two_days, options=SizingOptions(pv=True, pv_kwp=(kwp, kwp), profile_points=0)
    )
    capital = kwp * annual_cost_per_unit(tiny, "pv_kwp")
    assert fixed.breakdown["pv_capital"] == pytest.approx(capital)
    assert fixed.annual_cost == pytest.approx(plain.annual_cost + capital, rel=1e-7)


def test_sized_pv_and_storage_are_realised_by_the_twin(
    tiny: Scenario, two_days: TypicalDays
) -> None:
    s = size_storage(tiny, two_days, options=SizingOptions(pv=True, profile_points=0))
    pv = capacities(s, "pv_kwp")
    assert set(pv) == {"SS-Test"}
    sized = with_sizes(
        tiny, s.sizes["storage_energy_kwh"], s.sizes["storage_power_kw"], pv_kwp_at=pv
    )
    realised, kpis = realised_cost(sized, two_days, pv=list(pv))
    assert realised == pytest.approx(s.annual_cost, rel=0.03)
    bought = kpis["import_cost"] * year_scale(tiny, two_days)
    assert bought == pytest.approx(s.breakdown["energy_bought"], rel=0.03)


def test_pv_sizing_refuses_a_bought_output(tiny: Scenario, two_days: TypicalDays) -> None:
    settled = tiny.settlement.model_copy(update={"ppa_price_per_kwh": 10.0})
    with pytest.raises(ScenarioError, match="ppa_price_per_kwh"):
        size_storage(
            tiny.model_copy(update={"settlement": settled}),
            two_days,
            options=SizingOptions(pv=True),
        )


@pytest.fixture(scope="module")
def tiny_lp(tiny: Scenario, two_days: TypicalDays) -> tuple[SizingLP, HighsSession, float]:
    lp = build_sizing(tiny, two_days, SizingOptions(profile_points=0))
    session = HighsSession(lp, threads=1)
    return lp, session, session.solve_bounds(lp.bounds()).objective


SIZE = st.tuples(st.floats(0.0, 300.0), st.floats(0.0, 300.0))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=SIZE, b=SIZE)
def test_the_cost_of_fixed_sizes_is_convex_and_above_the_optimum(
    tiny_lp: tuple[SizingLP, HighsSession, float],
    a: tuple[float, float],
    b: tuple[float, float],
) -> None:
    lp, session, best = tiny_lp

    def cost(size: tuple[float, float]) -> float:
        lower, upper = lp.sizes.lower.copy(), lp.sizes.upper.copy()
        lower[:2] = upper[:2] = size
        return session.solve_bounds(lp.bounds(lower, upper)).objective

    mid = ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)
    ca, cb, cm = cost(a), cost(b), cost(mid)
    tol = 1e-7 * abs(best)
    assert min(ca, cb, cm) >= best - tol
    assert cm <= (ca + cb) / 2.0 + tol


def test_bad_options_are_named() -> None:
    with pytest.raises(ScenarioError, match="--min-energy-kwh"):
        SizingOptions(energy_kwh=(5.0, 1.0)).check()
    with pytest.raises(ScenarioError, match="--profile-points"):
        SizingOptions(profile_points=1).check()


def test_a_scenario_without_storage_is_refused(tiny: Scenario, two_days: TypicalDays) -> None:
    with pytest.raises(ScenarioError, match="storage"):
        size_storage(tiny.model_copy(update={"storage": None}), two_days)


def test_size_cli(tmp_path: Path) -> None:
    out = tmp_path / "size"
    res = runner.invoke(
        app, ["size", "tiny", "-k", "2", "--profile-points", "3", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    written = json.loads((out / "sizing.json").read_text(encoding="utf-8"))
    assert written["sizes"] == pytest.approx(data["sizes"])
    assert len(written["profile"]["storage_energy_kwh"]) == 3
    page = (out / "sizing.html").read_text(encoding="utf-8")
    assert "plotly" in page
    assert "<script" in page


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--min-power-kw", "9", "--max-power-kw", "3"], "--min-power-kw"),
        (["--energy-kwh", "5", "--max-energy-kwh", "9"], "--energy-kwh"),
        (["--energy-kwh", "-1"], "--energy-kwh"),
        (["--profile-points", "1"], "--profile-points"),
        (["--max-capacity-kw", "5"], "--connections"),
        (["--min-pv-kwp", "5"], "--pv"),
    ],
)
def test_size_cli_bad_options_exit_2(args: list[str], named: str) -> None:
    res = runner.invoke(app, ["size", "tiny", "-k", "1", "--quiet", *args])
    assert res.exit_code == 2
    assert named in res.output
    assert "Traceback" not in res.output
