"""A year from typical days: the weighted KPI combination, the clustering and the year's runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ersgrid import run
from ersgrid.cli import app
from ersgrid.errors import ScenarioError
from ersgrid.run.kpis import KPI_COMBINE, combine_kpis
from ersgrid.scenario.loader import load_scenario
from ersgrid.study.typical_days import (
    TypicalDays,
    cluster_days,
    day_profiles,
    representative_year,
    typical_days,
    year_economics,
    year_kpis,
)
from ersgrid.timeindex import planning_index
from ersgrid.world.world import build_world

DAY1 = dt.date(2035, 4, 2)  # tiny's simulation.start, a Monday
runner = CliRunner()


def _block(**values: float) -> dict[str, Any]:
    base = {
        "scenario": "x", "days": 1.0, "energy_delivered_kwh": 0.0, "energy_cost": 0.0,
        "trips": 0, "mean_soc_exit": 0.5, "peak_import_kw": 0.0, "demand_charge": 0.0,
        "objective": 0.0,
    }  # fmt: skip
    return base | values


def test_weighted_combination_by_hand() -> None:
    a = _block(energy_delivered_kwh=100.0, energy_cost=2_000.0, trips=10, mean_soc_exit=0.4,
               peak_import_kw=50.0, demand_charge=50.0 * 2.0, objective=1_900.0)  # fmt: skip
    b = _block(energy_delivered_kwh=40.0, energy_cost=1_000.0, trips=30, mean_soc_exit=0.6,
               peak_import_kw=80.0, demand_charge=80.0 * 2.0, objective=900.0)  # fmt: skip
    out = combine_kpis([a, b], weights=[3, 2])
    assert out["days"] == 5.0
    assert out["energy_delivered_kwh"] == 3 * 100.0 + 2 * 40.0
    assert out["energy_cost"] == 3 * 2_000.0 + 2 * 1_000.0
    assert out["trips"] == 3 * 10 + 2 * 30
    # a peak is the highest of the days, never weighted
    assert out["peak_import_kw"] == 80.0
    # the mean exit SOC weighs each day's trips by its weight: (30 × 0.4 + 60 × 0.6) / 90
    assert out["mean_soc_exit"] == pytest.approx((30 * 0.4 + 60 * 0.6) / 90)
    assert out["cost_per_kwh_delivered"] == pytest.approx(8_000.0 / 380.0)
    # demand charge: the daily rate (2 per kW and day) × 5 days × the year's peak
    assert out["demand_charge"] == pytest.approx(2.0 * 5 * 80.0)
    weighted = 3 * 1_900.0 + 2 * 900.0
    charged = 3 * 100.0 + 2 * 160.0
    assert out["objective"] == pytest.approx(weighted - charged + 800.0)


def test_weights_of_one_are_the_plain_combination() -> None:
    a = _block(energy_delivered_kwh=7.5, trips=3, peak_import_kw=9.0, demand_charge=18.0)
    b = _block(energy_delivered_kwh=2.25, trips=1, peak_import_kw=4.0, demand_charge=8.0)
    assert combine_kpis([a, b], weights=[1, 1]) == combine_kpis([a, b])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 1e5), st.integers(0, 500), st.floats(0.1, 0.9),
            st.floats(1.0, 1e4), st.integers(0, 5),
        ),
        min_size=1, max_size=5,
    )
)  # fmt: skip
def test_a_weight_is_the_block_repeated(rows: list[tuple[float, int, float, float, int]]) -> None:
    blocks = [
        _block(energy_delivered_kwh=e, trips=n, mean_soc_exit=soc, peak_import_kw=peak,
               demand_charge=3.0 * peak, objective=e)
        for e, n, soc, peak, _ in rows
    ]  # fmt: skip
    weights = [w for *_, w in rows]
    if not any(weights):
        weights[0] = 1
    weighted = combine_kpis(blocks, weights=weights)
    repeated = combine_kpis([b for b, w in zip(blocks, weights, strict=True) for _ in range(w)])
    for key in ("days", "energy_delivered_kwh", "trips"):
        assert weighted[key] == pytest.approx(repeated[key], rel=1e-9, abs=1e-9), key
    if repeated["peak_import_kw"] == weighted["peak_import_kw"]:  # the peak's block weighs
        for key in ("demand_charge", "objective"):
            assert weighted[key] == pytest.approx(repeated[key], rel=1e-9, abs=1e-9), key
    if repeated["trips"]:
        assert weighted["mean_soc_exit"] == pytest.approx(repeated["mean_soc_exit"], rel=1e-9)
    # a block of weight 0 still counts in the peak
    assert weighted["peak_import_kw"] == max(b["peak_import_kw"] for b in blocks)


@pytest.mark.parametrize("weights", [[1.0], [1.0, -1.0], [1.0, float("nan")]])
def test_bad_weights_are_refused(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weight"):
        combine_kpis([_block(), _block()], weights=weights)


def _profiles(shapes: list[int], steps: int = 24) -> pd.DataFrame:
    """Days of three kinds (0, 1, 2) with a little noise, hourly steps."""
    rng = np.random.default_rng(3)
    hours = np.arange(steps)
    kinds = [
        np.sin(np.pi * hours / steps),
        np.where((hours > 6) & (hours < 18), 2.0, 0.2),
        np.full(steps, 0.8),
    ]
    rows = [kinds[s] + rng.normal(0.0, 0.01, steps) for s in shapes]
    index = pd.date_range("2035-01-01", periods=steps * len(shapes), freq="60min", tz="UTC")
    price = np.tile(np.where(hours < 7, 20.0, 32.0), len(shapes))  # the same every day
    return pd.DataFrame(
        {"ers_potential_kwh": np.concatenate(rows), "price_per_kwh": price}, index=index
    )


def test_days_of_one_kind_share_a_cluster_and_its_medoid_is_one_of_them() -> None:
    shapes = [0, 1, 2, 0, 0, 1, 2, 2, 0, 1]
    medoids, labels, used = cluster_days(_profiles(shapes), 3, peak=None)
    assert used == ("ers_potential_kwh",)  # the flat price tells no day from another
    assert list(medoids) == sorted(medoids)
    for c, m in enumerate(medoids):
        assert labels[m] == c  # a medoid is a day of its own cluster
        members = [d for d in range(len(shapes)) if labels[d] == c]
        assert {shapes[d] for d in members} == {shapes[m]}
    assert np.bincount(labels).sum() == len(shapes)


def test_the_busiest_day_is_a_typical_day_of_its_own() -> None:
    shapes = [0, 1, 2, 0, 0, 1, 2, 2, 0, 1]
    profiles = _profiles(shapes)
    busy = profiles["ers_potential_kwh"].to_numpy().copy()
    busy[4 * 24 : 5 * 24] *= 3.0  # day 4: a day of kind 0, the busiest by far
    profiles["ers_potential_kwh"] = busy
    medoids, labels, _ = cluster_days(profiles, 4)
    assert 4 in medoids
    assert list(labels).count(labels[4]) == 1
    # the other nine days still form their three kinds
    for c, m in enumerate(medoids):
        members = [d for d in range(10) if labels[d] == c and d != 4]
        assert {shapes[d] for d in members} <= {shapes[m]}
    # without the rule, k clusters of all days
    plain, plain_labels, _ = cluster_days(_profiles(shapes), 3, peak=None)
    assert len(plain) == 3
    assert np.bincount(plain_labels).sum() == 10


def test_clustering_is_deterministic_and_k_days_is_every_day() -> None:
    profiles = _profiles([0, 1, 2, 0, 2, 1, 1])
    first = cluster_days(profiles, 2)
    again = cluster_days(profiles.copy(), 2)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    medoids, labels, _ = cluster_days(profiles, 7)
    np.testing.assert_array_equal(medoids, np.arange(7))
    np.testing.assert_array_equal(labels, np.arange(7))
    with pytest.raises(ValueError, match="typical days"):
        cluster_days(profiles, 8)


@pytest.fixture(scope="module")
def tiny_year() -> TypicalDays:
    return typical_days(load_scenario("tiny"), 6)


def test_typical_days_of_the_year(tiny_year: TypicalDays) -> None:
    t = tiny_year
    assert t.year == 2035
    assert t.days_in_year == 365
    assert sum(t.weights) == 365
    assert len(t.dates) == len(t.weights) == 6
    assert all(d.year == 2035 for d in t.dates)
    assert list(t.dates) == sorted(t.dates)
    first = dt.date(2035, 1, 1)
    for c, day in enumerate(t.dates):
        assert t.assignment[(day - first).days] == c  # each medoid stands for itself
    assert [t.assignment.count(c) for c in range(6)] == list(t.weights)
    assert "ers_potential_kwh" in t.features
    data = t.as_dict()
    assert sum(len(e["days"]) for e in data["typical_days"]) == 365
    # the same scenario gives the same days
    assert typical_days(load_scenario("tiny"), 6) == t


def test_a_leap_year_has_366_days_and_bad_k_is_named() -> None:
    sc = load_scenario("tiny")
    assert sum(typical_days(sc, 2, 2036).weights) == 366
    with pytest.raises(ScenarioError, match="typical-days 400"):
        typical_days(sc, 400)


def test_the_vehicles_potential_follows_the_arrivals() -> None:
    sc = load_scenario("tiny")
    world = build_world(sc, planning_index(sc, 2.0, DAY1))
    profiles = day_profiles(world)
    assert len(profiles) == 192
    potential = profiles["ers_potential_kwh"].to_numpy()
    assert (potential >= 0).all()
    # no step has potential without an ERS arrival in it, and every arrival has room
    steps = (world.arrivals.time_s // 900).astype(int)
    assert set(np.flatnonzero(potential > 0)) <= set(steps.tolist())
    # at most every vehicle's receiver power over its whole trip
    a = world.arrivals
    bound = (a.receiver_kw * np.abs(a.exit_m - a.entry_m) / a.speed_mps / 3600.0).sum()
    assert 0 < potential.sum() <= bound


@pytest.fixture(scope="module")
def two_days() -> dict[str, Any]:
    sc = load_scenario("tiny")
    second = DAY1 + dt.timedelta(days=1)
    return {
        "days": [run(sc, days=1, start=DAY1).kpis, run(sc, days=1, start=second).kpis],
        "long": run(sc, days=2, start=DAY1).kpis,
    }


def test_k_equal_to_the_days_sums_the_days(two_days: dict[str, Any]) -> None:
    sc = load_scenario("tiny")
    world = build_world(sc, planning_index(sc, 2.0, DAY1))
    medoids, labels, _ = cluster_days(day_profiles(world), 2)
    weights = np.bincount(labels)
    assert list(weights) == [1, 1]
    days = [two_days["days"][m] for m in medoids]
    combined = combine_kpis(days, weights=weights.tolist())
    plain = combine_kpis(two_days["days"])
    for key, rule in KPI_COMBINE.items():
        if rule == "sum" and key in plain:
            assert combined[key] == plain[key], key  # exactly
    # and the days run one by one are the long run, to the vehicles on the road at midnight
    long = two_days["long"]
    for key in ("energy_delivered_kwh", "energy_cost", "import_cost", "trips"):
        assert combined[key] == pytest.approx(long[key], rel=5e-3), key
    assert combined["peak_import_kw"] == max(k["peak_import_kw"] for k in two_days["days"])


def test_the_year_from_two_typical_days(two_days: dict[str, Any]) -> None:
    sc = load_scenario("tiny")
    first = dt.date(2035, 1, 1)
    a, b = (DAY1 - first).days, (DAY1 - first).days + 1
    assignment = tuple(0 if d % 7 < 5 else 1 for d in range(365))
    assignment = tuple(0 if d == a else 1 if d == b else c for d, c in enumerate(assignment))
    weights = (assignment.count(0), assignment.count(1))
    typical = TypicalDays(2035, (DAY1, DAY1 + dt.timedelta(days=1)), weights, assignment, ())
    year = representative_year(sc, "uncontrolled", typical)
    k = year.kpis
    d1, d2 = year.day_kpis
    assert d1["energy_delivered_kwh"] == two_days["days"][0]["energy_delivered_kwh"]
    assert k["days"] == 365
    assert k["typical_days"] == 2
    assert k["energy_delivered_kwh"] == pytest.approx(
        weights[0] * d1["energy_delivered_kwh"] + weights[1] * d2["energy_delivered_kwh"]
    )
    assert k["energy_cost"] == pytest.approx(
        weights[0] * d1["energy_cost"] + weights[1] * d2["energy_cost"]
    )
    assert k["peak_import_kw"] == max(d1["peak_import_kw"], d2["peak_import_kw"])
    assert k["start"].startswith("2035-01-01")
    assert year_kpis(typical, year.day_kpis) == k
    # the economics read the year's KPIs as they are: no further scaling
    econ = year_economics(sc, year)
    assert econ.scale == 1.0
    assert econ.energy_delivered_kwh_per_year == pytest.approx(k["energy_delivered_kwh"])
    assert econ.streams["energy_sales"] == pytest.approx(k["revenue"])
    assert econ.streams["demand_charge"] == pytest.approx(k["demand_charge"])


def test_economics_year_cli(tmp_path: Path) -> None:
    out = tmp_path / "year"
    res = runner.invoke(
        app, ["economics-year", "tiny", "-k", "2", "--out", str(out), "--json", "--quiet"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert sum(d["weight"] for d in data["typical_days"]) == 365
    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    econ = json.loads((out / "economics.json").read_text(encoding="utf-8"))
    days = json.loads((out / "typical_days.json").read_text(encoding="utf-8"))
    # one truth: the economics read the year's KPIs
    assert econ["energy_delivered_kwh_per_year"] == pytest.approx(kpis["energy_delivered_kwh"])
    assert kpis["energy_delivered_kwh"] == pytest.approx(
        sum(d["weight"] * d["kpis"]["energy_delivered_kwh"] for d in days["typical_days"])
    )
    assert data["economics"]["npv"] == pytest.approx(econ["npv"])


def test_economics_year_bad_k_exits_2() -> None:
    res = runner.invoke(app, ["economics-year", "tiny", "-k", "366", "--quiet"])
    assert res.exit_code == 2
    assert "--typical-days 366" in res.output
    assert "Traceback" not in res.output
