"""Short and long runs of the same days agree: the warm-up, chained runs and combined KPIs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ersgrid import run
from ersgrid.control.mpc import MPC, MPCSettings
from ersgrid.errors import DataError, ErsgridError, ScenarioError
from ersgrid.results import read_end_state, write_end_state
from ersgrid.run.kpis import KPI_COMBINE, combine_kpis, pseudonym
from ersgrid.scenario.loader import load_scenario, parse_scenario
from ersgrid.timeindex import warmup_steps

DAY1 = dt.date(2035, 4, 2)  # tiny's simulation.start
DAY2 = DAY1 + dt.timedelta(days=1)
AGREE = ("energy_delivered_kwh", "import_cost", "energy_cost", "co2_kg", "trips")


@pytest.fixture(scope="module")
def uncontrolled() -> dict[str, Any]:
    first = run("tiny", days=1)
    second = run("tiny", days=1, start_state=first.end_state)
    assert second.end_state is not None
    return {
        "first": first,
        "fresh_second": run("tiny", days=1, start=DAY2),
        "second": second,
        "third": run("tiny", days=1, start_state=second.end_state),
        "long2": run("tiny", days=2),
        "long3": run("tiny", days=3),
    }


@pytest.fixture(scope="module")
def tou() -> dict[str, Any]:
    first = run("tiny", "tou", days=1)
    return {
        "first": first,
        "second": run("tiny", "tou", days=1, start_state=first.end_state),
        "long2": run("tiny", "tou", days=2),
    }


def test_default_warmup_is_the_longest_trip() -> None:
    sc = load_scenario("tiny")
    # 10 km at 0.6 x 85 km/h (the trucks' slowest) = 11.8 min: one 15-min step
    assert warmup_steps(sc) == 1
    longer = sc.model_copy(
        update={"simulation": sc.simulation.model_copy(update={"warmup_h": 1.1})}
    )
    assert warmup_steps(longer) == 5


def test_warm_up_fills_the_road_and_counts_nothing_before_the_start(
    uncontrolled: dict[str, Any],
) -> None:
    fresh = uncontrolled["fresh_second"]
    sc = fresh.scenario
    cold_sc = sc.model_copy(update={"simulation": sc.simulation.model_copy(update={"warmup_h": 0})})
    cold = run(cold_sc, days=0.25, start=DAY2)
    # at 00:00 the warmed road has vehicles on it, the cold one none; energy in the first
    # hour is larger with the vehicles already there
    assert fresh.records[0].vehicles_on_road > 0
    assert fresh.kpis["energy_delivered_kwh"] > 0
    warm_first = fresh.timeseries["battery_power_kw"].iloc[:4].sum()
    cold_first = cold.timeseries["battery_power_kw"].iloc[:4].sum()
    assert warm_first > cold_first
    # nothing before the start: every trip, pass and meter lies in the run
    t0 = fresh.timeseries.index[0]
    assert (fresh.trips["entry_time"] >= t0).all()
    assert (fresh.passes["start_step"] >= 0).all()
    assert fresh.kpis["energy_balance_error_kwh"] < 1e-6


def test_two_days_run_as_one_or_two_agree(uncontrolled: dict[str, Any]) -> None:
    long2 = uncontrolled["long2"].kpis
    split = [uncontrolled["first"].kpis, uncontrolled["fresh_second"].kpis]
    for key in AGREE:
        total = sum(k[key] for k in split)
        assert total == pytest.approx(long2[key], rel=5e-3), key


@pytest.mark.parametrize("name", ["uncontrolled", "tou"])
def test_chained_runs_equal_the_long_run(
    name: str, uncontrolled: dict[str, Any], tou: dict[str, Any]
) -> None:
    runs = uncontrolled if name == "uncontrolled" else tou
    long2 = runs["long2"].kpis
    chained = [runs["first"].kpis, runs["second"].kpis]
    for key in (*AGREE, "unmet_energy_kwh", "grid_import_kwh", "vehicle_steps"):
        assert sum(k[key] for k in chained) == pytest.approx(long2[key], rel=1e-6), key
    # the second block's import is the long run's second day, step by step
    np.testing.assert_allclose(
        runs["second"].import_kw, runs["long2"].import_kw[96:], rtol=1e-9, atol=1e-9
    )


def test_end_state_hands_over_the_road(uncontrolled: dict[str, Any]) -> None:
    first, second = uncontrolled["first"], uncontrolled["second"]
    state = first.end_state
    assert state is not None
    assert state.end == second.timeseries.index[0]
    assert state.twin.n_vehicles == first.kpis["vehicles_on_road_at_end"]
    # the vehicles on the road at the hand-over finish their trips in the second block,
    # counted from its start
    handed = pseudonym(first.scenario.seed, state.twin.vehicle_id)
    assert handed
    rows = second.trips[second.trips["vehicle"].isin(handed)]
    assert len(rows) == len(handed)
    assert (rows["entry_time"] == second.timeseries.index[0]).all()
    assert not set(handed) & set(first.trips["vehicle"])
    np.testing.assert_allclose(state.stored_kwh, first.storage_kwh[-1])
    assert state.peak_month == "2035-04"
    assert state.peak_import_kw == pytest.approx(float(first.import_kw.sum(axis=1).max()))


def test_combined_blocks_equal_the_long_run(uncontrolled: dict[str, Any]) -> None:
    blocks = [uncontrolled[n].kpis for n in ("first", "second", "third")]
    long3 = uncontrolled["long3"].kpis
    combined = combine_kpis(blocks)
    additive = [
        k for k, rule in KPI_COMBINE.items() if rule == "sum" and k in long3 and "time_s" not in k
    ]
    additive.remove("grid_check_s")
    assert "energy_delivered_kwh" in additive
    assert "trips" in additive
    for key in additive:
        assert combined[key] == pytest.approx(long3[key], rel=1e-6, abs=1e-9), key
    for key in ("peak_import_kw", "peak_road_kw", "cost_per_kwh_delivered", "mean_soc_exit"):
        assert combined[key] == pytest.approx(long3[key], rel=1e-6), key
    assert combined["peak_import_kw"] == max(b["peak_import_kw"] for b in blocks)
    assert combined["start"] == blocks[0]["start"]
    assert combined["days"] == 3


def test_every_kpi_of_a_run_has_a_combination_rule(uncontrolled: dict[str, Any]) -> None:
    assert set(uncontrolled["first"].kpis) <= set(KPI_COMBINE)
    with pytest.raises(ValueError, match="does not know"):
        combine_kpis([{"a_new_kpi": 1.0}])
    with pytest.raises(ValueError, match="differs"):
        combine_kpis([{"scenario": "tiny"}, {"scenario": "e20"}])


def test_a_state_of_another_scenario_or_time_is_refused(uncontrolled: dict[str, Any]) -> None:
    state = uncontrolled["first"].end_state
    with pytest.raises(ScenarioError, match="another scenario"):
        run("tiny", days=1, seed=8, start_state=state)
    with pytest.raises(ScenarioError, match="starts at"):
        run("tiny", days=1, start=DAY1, start_state=state)


def test_end_state_file_round_trip(
    uncontrolled: dict[str, Any], tou: dict[str, Any], tmp_path: Path
) -> None:
    state = uncontrolled["second"].end_state
    assert state is not None
    write_end_state(state, tmp_path / "end_state.npz")
    back = read_end_state(tmp_path)
    assert back.end == state.end
    assert back.fingerprint == state.fingerprint
    np.testing.assert_array_equal(back.twin.floats, state.twin.floats)
    np.testing.assert_array_equal(back.twin.ints, state.twin.ints)
    assert back.last is not None
    assert state.last is not None
    np.testing.assert_array_equal(back.last.sub_grid_kwh, state.last.sub_grid_kwh)
    assert back.last.vehicles_on_road == state.last.vehicles_on_road
    tou_state = tou["first"].end_state
    assert tou_state is not None
    assert tou_state.strategy_state
    write_end_state(tou_state, tmp_path / "end_state.npz")
    back = read_end_state(tmp_path / "end_state.npz")
    assert set(back.strategy_state) == set(tou_state.strategy_state)
    for key, value in tou_state.strategy_state.items():
        np.testing.assert_array_equal(back.strategy_state[key], value)
    with pytest.raises(DataError, match="no end state"):
        read_end_state(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "end_state.npz").write_bytes(b"not an archive")
    with pytest.raises(ErsgridError, match="not an end state"):
        read_end_state(tmp_path / "bad")


def test_kpis_a_run_without_a_network_does_not_measure_stay_unmeasured() -> None:
    """Without a grid section the grid KPIs are None in every block: combined they stay None
    (weighted or not), never a TypeError or a zero that reads as measured."""
    keys = ("voltage_violations", "network_excess_kwh_eq", "min_voltage_pu", "max_loading_pct")
    blocks = [dict.fromkeys(keys) | {"days": 1.0}] * 2
    for weights in (None, [3.0, 4.0]):
        out = combine_kpis(blocks, weights=weights)
        assert all(out[k] is None for k in keys)


def test_chained_mpc_plans_from_the_peak_already_owed(tiny_data: dict[str, Any]) -> None:
    """Chained runs are billed on their highest peak, so a chained mpc's first plan takes the
    peak of the run it continues as owed, not only the last step's import it sees."""
    data = dict(tiny_data, tariff=dict(tiny_data["tariff"], demand_charge_per_kw=50.0))
    sc = parse_scenario(data, "tiny-demand-charge")
    settings = MPCSettings(horizon_steps=32, block_steps=16)
    first = run(sc, MPC(settings), days=0.5)
    assert first.end_state is not None
    peak = first.kpis["peak_import_kw"]
    last = float(first.timeseries["grid_import_kw"].iloc[-1])
    assert peak > last + 1.0  # the floor could not come from the last step alone
    second = run(sc, MPC(settings), days=0.25, start_state=first.end_state)
    floor = second.timeseries["plan_peak_floor_kw"].to_numpy()
    assert floor[0] >= peak - 1e-6
    assert np.all(np.diff(floor) >= -1e-9)  # the floor never falls within the run
