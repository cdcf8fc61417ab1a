"""The twin: invariants at every step, priority sharing, reproducibility, metering."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ersgrid.run import run
from ersgrid.scenario import build_layout, parse_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.twin import RoadTwin
from ersgrid.world import Arrivals


def _arrivals(n: int, **fields: Any) -> Arrivals:
    """``n`` trucks entering at t = 0 in direction A at km 0, leaving at km 10."""
    base: dict[str, Any] = {
        "time_s": np.zeros(n),
        "direction": np.zeros(n, np.int8),
        "vclass": np.full(n, 2, np.int8),
        "entry_m": np.zeros(n),
        "exit_m": np.full(n, 10_000.0),
        "entry_ic": np.zeros(n, np.int16),
        "exit_ic": np.full(n, 2, np.int16),
        "speed_mps": np.full(n, 25.0),
        "energy_kwh": np.full(n, 200.0),
        "battery_kwh": np.full(n, 540.0),
        "full_kwh": np.full(n, 513.0),
        "target_kwh": np.full(n, 216.0),
        "receiver_kw": np.full(n, 150.0),
        "consumption_kwh_per_m": np.full(n, 0.0011),
        "v2g": np.zeros(n, bool),
        "vehicle_id": np.arange(n, dtype=np.int64),
    }
    base.update(fields)
    return Arrivals(**base)


def _one_segment(tiny_data: dict[str, Any], rating_kw: float) -> Scenario:
    sec = tiny_data["road"]["sections"][0]
    sec.update(start_km=1.0, length_km=8.0, segment_length_m=8000, rating_kw=rating_kw,
               directions=["A"], coverage=1.0, efficiency=0.9, vehicle_limit_kw=150)  # fmt: skip
    return parse_scenario(tiny_data)


def test_priority_goes_to_the_vehicle_with_least_slack(tiny_data: dict[str, Any]) -> None:
    sc = _one_segment(tiny_data, rating_kw=150 / 0.9)  # room for exactly one full receiver
    lay = build_layout(sc)
    arr = _arrivals(2, energy_kwh=np.array([100.0, 400.0]))
    twin = RoadTwin(lay, arr, 1.0, 100)
    twin.advance(100, lay.seg_rating_kw, lay.sub_rating_kw)
    twin.finish()
    passes = twin.passes()
    got = passes.groupby("vehicle_id")["battery_kwh"].sum()
    # the low vehicle gets the whole segment: 150 kW for the seconds it was on it
    assert got.get(0, 0.0) > 0.0
    assert got.get(1, 0.0) == pytest.approx(0.0, abs=1e-9)


def test_equal_priority_shares_proportionally(tiny_data: dict[str, Any]) -> None:
    sc = _one_segment(tiny_data, rating_kw=150 / 0.9)
    lay = build_layout(sc)
    twin = RoadTwin(lay, _arrivals(2), 1.0, 100)
    twin.advance(100, lay.seg_rating_kw, lay.sub_rating_kw)
    twin.finish()
    got = twin.passes().groupby("vehicle_id")["battery_kwh"].sum().to_numpy()
    assert got[0] == pytest.approx(got[1], rel=1e-12)
    # both on the segment (from km 1) after the moves of steps 39..99: 61 s at 75 kW each
    assert got.sum() == pytest.approx(150.0 * 61 / 3600, rel=1e-9)


def test_limit_above_rating_is_counted(tiny_data: dict[str, Any]) -> None:
    sc = _one_segment(tiny_data, rating_kw=3000)
    lay = build_layout(sc)
    twin = RoadTwin(lay, _arrivals(12), 1.0, 100)
    twin.advance(300, lay.seg_rating_kw, np.array([5000.0]))  # substation rated 1200 kW
    assert twin.limit_violations > 0


def test_substation_cap_binds_and_is_counted_never_exceeded(tiny_data: dict[str, Any]) -> None:
    sc = _one_segment(tiny_data, rating_kw=1000)
    lay = build_layout(sc)
    twin = RoadTwin(lay, _arrivals(5), 1.0, 100)
    report = twin.advance(300, lay.seg_rating_kw, np.array([200.0]))
    assert report.sub_peak_kw[0] == pytest.approx(200.0, rel=1e-9)
    assert twin.limit_violations == 0


def test_vehicle_stops_charging_when_full(tiny_data: dict[str, Any]) -> None:
    sc = _one_segment(tiny_data, rating_kw=1000)
    lay = build_layout(sc)
    arr = _arrivals(1, energy_kwh=np.array([512.5]))
    twin = RoadTwin(lay, arr, 1.0, 100)
    twin.advance(450, lay.seg_rating_kw, lay.sub_rating_kw)
    twin.finish()
    trip = twin.trips().iloc[0]
    assert trip["exit_energy_kwh"] <= 513.0 + 1e-9
    assert trip["received_battery_kwh"] <= 513.0 - 512.5 + 0.0011 * 10_000 + 1e-9


@pytest.fixture(scope="module")
def tiny_day() -> Any:
    return run("tiny", days=1)


def test_energy_conserved_and_bounds(tiny_day: Any) -> None:
    k = tiny_day.kpis
    assert k["energy_balance_error_kwh"] < 1e-6
    assert k["losses_kwh"] == pytest.approx(k["road_energy_kwh"] - k["energy_delivered_kwh"])
    assert k["energy_delivered_kwh"] > 0
    trips = tiny_day.trips
    assert (trips["soc_exit"] >= 0).all()
    assert (trips["soc_exit"] <= 0.95 + 1e-9).all()
    # per trip: exit = entry + received - consumption over the distance driven
    ts = tiny_day.timeseries
    for sid in ("SS-Test",):
        assert (ts[f"road_peak_{sid}_kw"] <= ts[f"road_limit_{sid}_kw"] * (1 + 1e-9)).all()
    assert k["limit_violations"] == 0


def test_trip_energy_balance(tiny_day: Any) -> None:
    sc = tiny_day.scenario
    t = tiny_day.trips
    cons = t["vehicle_class"].map({n: v.consumption_kwh_per_km for n, v in sc.vehicles.items()})
    battery = t["vehicle_class"].map({n: v.battery_kwh for n, v in sc.vehicles.items()})
    driven_km = (t["exit_km"] - t["entry_km"]).abs()
    expected = t["soc_entry"] * battery + t["energy_received_kwh"] - cons * driven_km
    # a vehicle leaves on the first step past its exit: at most one step of extra driving
    slack = cons * 40.0 / 1000.0
    assert ((t["soc_exit"] * battery - expected).abs() <= slack + 1e-9).all()


def test_same_seed_same_run_other_seed_differs() -> None:
    a = run("tiny", days=0.25)
    b = run("tiny", days=0.25)
    c = run("tiny", days=0.25, seed=123)
    assert a.kpis["energy_delivered_kwh"] == b.kpis["energy_delivered_kwh"]
    assert a.trips.equals(b.trips)
    assert c.kpis["energy_delivered_kwh"] != a.kpis["energy_delivered_kwh"]


def test_ratings_never_exceeded_on_shin_tomei() -> None:
    res = run("shin-tomei", days=0.5)
    assert res.kpis["limit_violations"] == 0
    assert res.kpis["energy_balance_error_kwh"] < 1e-6 * res.kpis["road_energy_kwh"]


@settings(max_examples=15, deadline=None)
@given(
    rating=st.floats(50.0, 2000.0),
    sub_limit=st.floats(0.0, 3000.0),
    n=st.integers(1, 40),
    soc=st.lists(st.floats(0.0, 0.95), min_size=40, max_size=40),
)
def test_invariants_hold_for_any_limits(
    rating: float, sub_limit: float, n: int, soc: list[float]
) -> None:
    import yaml

    from ersgrid.scenario.loader import _builtin_text

    data = yaml.safe_load(_builtin_text("tiny"))
    sc = _one_segment(data, rating_kw=rating)
    lay = build_layout(sc)
    energy = np.array(soc[:n]) * 540.0
    arr = _arrivals(n, energy_kwh=energy, time_s=np.linspace(0, 200, n))
    twin = RoadTwin(lay, arr, 1.0, 100)
    limit = min(sub_limit, float(lay.sub_rating_kw[0]))
    rep = twin.advance(600, lay.seg_rating_kw, np.array([limit]))
    twin.finish()
    assert twin.limit_violations == 0
    assert rep.sub_peak_kw[0] <= min(limit, rating) * (1 + 1e-9) + 1e-9
    trips, passes = twin.trips(), twin.passes()
    metered = rep.seg_grid_kwh.sum()
    assert passes["grid_kwh"].sum() == pytest.approx(metered, rel=1e-9, abs=1e-9)
    assert (trips["exit_energy_kwh"] <= 513.0 + 1e-9).all()
    assert (trips["exit_energy_kwh"] >= 0.0).all()
    assert dataclasses.is_dataclass(rep)


def test_v2g_discharges_highest_slack_first_and_keeps_the_floor(
    tiny_data: dict[str, Any],
) -> None:
    sc = _one_segment(tiny_data, rating_kw=150 * 0.9)  # one full V2G receiver at the grid
    lay = build_layout(sc)
    arr = _arrivals(
        3,
        energy_kwh=np.array([500.0, 300.0, 500.0]),
        v2g=np.array([True, True, False]),
    )
    twin = RoadTwin(lay, arr, 1.0, 100)
    v2g = np.full(lay.n_segments, 1e6)
    no_charge = np.zeros(lay.n_segments)
    rep = twin.advance(300, no_charge, lay.sub_rating_kw, v2g)
    twin.finish()
    passes = twin.passes()
    by_vehicle = passes.groupby("vehicle_id")["grid_kwh"].sum()
    # with charging held at 0 the segment returns power, never draws it; only V2G vehicles
    # take part
    assert (passes["grid_kwh"] < 0).all()
    assert 2 not in by_vehicle.index
    # the fuller vehicle returns first, within the segment rating
    assert -by_vehicle[0] > -by_vehicle.get(1, 0.0)
    assert rep.sub_peak_kw[0] <= 0.0
    assert rep.seg_v2g_grid_kwh.sum() == pytest.approx(-passes["grid_kwh"].sum(), rel=1e-12)
    # losses are positive in both directions: battery gave more than the grid got
    assert rep.seg_v2g_battery_kwh.sum() == pytest.approx(rep.seg_v2g_grid_kwh.sum() / 0.9)
    assert rep.sub_grid_kwh[0] == pytest.approx(-rep.seg_v2g_grid_kwh.sum())


def test_v2g_and_charging_share_a_segment_in_mixed_mode(tiny_data: dict[str, Any]) -> None:
    sc = _one_segment(tiny_data, rating_kw=1000)
    lay = build_layout(sc)
    # vehicle 0 is full and allows V2G; vehicle 1 is short of its target and charges;
    # vehicle 2 allows V2G too but has less to spare, and the export does not need it
    arr = _arrivals(
        3, energy_kwh=np.array([500.0, 150.0, 400.0]), v2g=np.array([True, False, True])
    )
    twin = RoadTwin(lay, arr, 1.0, 100)
    rep = twin.advance(
        300, lay.seg_rating_kw, lay.sub_rating_kw, np.full(lay.n_segments, 1e6), np.array([50.0])
    )
    twin.finish()
    passes = twin.passes()
    by_vehicle = passes.groupby("vehicle_id")["grid_kwh"].agg(["min", "max"])
    assert by_vehicle.loc[0, "max"] < 0.0  # only returns power
    assert by_vehicle.loc[1, "min"] > 0.0  # only draws it
    assert by_vehicle.loc[2, "min"] > 0.0  # not needed for the export: charges
    charged = rep.seg_grid_kwh.sum()
    returned = rep.seg_v2g_grid_kwh.sum()
    assert charged > 0.0
    assert returned > 0.0
    # the substation's V2G cap holds: 50 kW from the second the vehicle reaches the segment
    # (km 1 at 25 m/s: 40 s) to the end; its meter nets both directions
    assert returned == pytest.approx(50.0 * (300 - 40 + 1) / 3600, rel=1e-9)
    assert rep.sub_grid_kwh[0] == pytest.approx(charged - returned, rel=1e-12)
    # vehicles 1 and 2 got the same as without any V2G on the segment
    alone = RoadTwin(lay, arr, 1.0, 100)
    alone.advance(300, lay.seg_rating_kw, lay.sub_rating_kw)
    alone.finish()
    ref = alone.passes().groupby("vehicle_id")["grid_kwh"].sum()
    assert charged == pytest.approx(ref[1] + ref[2], rel=1e-12)


def test_v2g_never_goes_below_what_the_trip_needs(tiny_data: dict[str, Any]) -> None:
    sc = _one_segment(tiny_data, rating_kw=5000)
    lay = build_layout(sc)
    arr = _arrivals(1, energy_kwh=np.array([240.0]), v2g=np.array([True]))
    twin = RoadTwin(lay, arr, 1.0, 100)
    twin.advance(450, lay.seg_rating_kw, lay.sub_rating_kw, np.full(lay.n_segments, 1e6))
    twin.finish()
    trip = twin.trips().iloc[0]
    assert trip["v2g_battery_kwh"] > 0
    # it keeps its exit target: 216 kWh (0.4 x 540) at km 10
    assert trip["exit_energy_kwh"] >= 216.0 - 0.0011 * 25.0 - 1e-9


def test_run_counts_v2g_in_the_balance() -> None:
    from ersgrid import Dispatch, Observation, Strategy

    class NightV2G(Strategy):
        name = "night-v2g"

        def decide(self, observation: Observation) -> Dispatch:
            lay = self.context.layout
            evening = observation.time.hour >= 17
            v2g = np.where(evening, lay.seg_rating_kw, 0.0)
            charge = np.where(evening, 0.0, lay.seg_rating_kw)
            return Dispatch(charge, lay.sub_rating_kw, seg_v2g_kw=v2g)

    res = run("tiny", strategy=NightV2G(), days=1)
    k = res.kpis
    assert k["v2g_to_grid_kwh"] > 0
    assert k["v2g_discharged_kwh"] > k["v2g_to_grid_kwh"]
    assert k["energy_balance_error_kwh"] < 1e-6 * k["road_energy_kwh"]
    evening = res.timeseries.index.hour >= 17
    assert (res.timeseries.loc[evening, "road_power_kw"] <= 1e-9).all()
    assert res.trips["v2g_grid_kwh"].sum() > 0


def test_a_substation_serves_the_neediest_vehicle_on_any_of_its_segments(
    tiny_data: dict[str, Any],
) -> None:
    # two 4-km segments of one substation that can feed one receiver: the needy truck on the
    # first segment gets it all, the full one on the second nothing (not half each)
    sec = tiny_data["road"]["sections"][0]
    sec.update(start_km=1.0, length_km=8.0, segment_length_m=4000, rating_kw=1000,
               directions=["A"], coverage=1.0, efficiency=0.9, vehicle_limit_kw=150)  # fmt: skip
    lay = build_layout(parse_scenario(tiny_data))
    assert lay.n_segments == 2
    assert len(set(lay.seg_substation.tolist())) == 1
    arr = _arrivals(2, entry_m=np.array([1_000.0, 5_000.0]), energy_kwh=np.array([100.0, 400.0]))
    twin = RoadTwin(lay, arr, 1.0, 100)
    report = twin.advance(100, lay.seg_rating_kw, np.array([150.0 / 0.9]))
    twin.finish()
    got = twin.passes().groupby("vehicle_id")["battery_kwh"].sum()
    assert got.get(0, 0.0) == pytest.approx(150.0 * 100 / 3600, rel=1e-9)
    assert got.get(1, 0.0) == pytest.approx(0.0, abs=1e-12)
    assert report.sub_peak_kw[0] == pytest.approx(150.0 / 0.9, rel=1e-9)


def test_an_energy_budget_is_paced_over_the_call(tiny_data: dict[str, Any]) -> None:
    # a budget one receiver would spend in 40 s, over a 100-s call: the full truck on the
    # road from the start does not spend it before the needy one arrives at 50 s; all of it
    # is spent by the end, and no step draws more than what is left over the time left
    sc = _one_segment(tiny_data, rating_kw=1000)
    lay = build_layout(sc)
    budget_kwh = 150.0 / 0.9 * 40 / 3600
    arr = _arrivals(
        2, time_s=np.array([0.0, 50.0]), entry_m=np.array([1_000.0, 1_000.0]),
        energy_kwh=np.array([400.0, 100.0]),
    )  # fmt: skip
    twin = RoadTwin(lay, arr, 1.0, 100)
    report = twin.advance(
        100, lay.seg_rating_kw, lay.sub_rating_kw, sub_energy_kwh=np.array([budget_kwh])
    )
    twin.finish()
    got = twin.passes().groupby("vehicle_id")["grid_kwh"].sum()
    assert got.sum() == pytest.approx(budget_kwh, rel=1e-9)
    assert got.get(1, 0.0) > 0.4 * budget_kwh  # the late, needy truck is served first
    assert report.sub_peak_kw[0] <= budget_kwh / (50 / 3600) * (1 + 1e-9)
