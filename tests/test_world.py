"""The run's world: one weather for every consumer, the user's own data as sources, one loop
contract for batch and live."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ersgrid import load_scenario, run
from ersgrid.errors import DataError
from ersgrid.scenario import parse_scenario
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.timeindex import planning_index
from ersgrid.world import build_world, history_frame, history_index, weather_builds

EXAMPLES = Path(__file__).parents[1] / "examples"
COUNTS = EXAMPLES / "tiny-counts.yaml"


# ---- one weather --------------------------------------------------------------------------
def test_a_run_builds_its_weather_once_and_everything_reads_it(tiny: Scenario) -> None:
    """A run of a day in a year no one asked for yet builds one year of weather; PV, wind,
    traffic, the grid check and the forecasting history all read that one weather."""
    sc = tiny.model_copy(update={"seed": 424242})
    before = weather_builds()
    result = run(sc, "uncontrolled", days=1)
    assert weather_builds() - before == 1
    world = result.world
    # the history of the same days is the same weather (no second draw, no second generator)
    history = history_frame(build_world(sc, world.index, history=True))
    assert weather_builds() - before == 1
    np.testing.assert_array_equal(history["wx:precip_mm_h"], world.weather.precip_mm_h)
    np.testing.assert_array_equal(history["wx:ghi_w_m2"], world.weather.ghi_w_m2)
    np.testing.assert_array_equal(history["wx:temp_c"], world.weather.temp_air_c)
    assert result.kpis["weather"] == world.weather.description


def _climate(tiny_data: dict[str, Any], wet_may: float, seed: int) -> Scenario:
    """tiny under a climate that rains only in May (with a chance ``wet_may`` a day)."""
    data = dict(tiny_data)
    data["seed"] = seed
    data["weather"] = {
        "source": "clear_sky", "latitude_deg": 34.97, "longitude_deg": 138.38,
        "wet_day_probability": [0.0] * 4 + [wet_may] + [0.0] * 7, "wet_day_mm": [25.0] * 12,
    }  # fmt: skip
    return parse_scenario(data, "climate")


def test_rain_dims_the_panels_and_thins_the_traffic_of_the_same_days(
    tiny_data: dict[str, Any],
) -> None:
    """The same corridor and draws with and without rain in May: on the days it rains, PV
    yields less and car traffic is thinner, because both read the one weather."""
    index = planning_index(parse_scenario(tiny_data), 14.0, dt.date(2035, 5, 6))
    wet = build_world(_climate(tiny_data, 0.95, 11), index)
    dry = build_world(_climate(tiny_data, 0.0, 11), index)
    assert wet.weather.precip_mm_h.sum() > 100.0
    assert dry.weather.precip_mm_h.sum() == 0.0
    days = np.asarray(pd.Index(index.normalize()).factorize()[0])
    pv_wet = np.bincount(days, wet.plants.of_kind("pv"))
    pv_dry = np.bincount(days, dry.plants.of_kind("pv"))
    rainy = np.bincount(days, wet.weather.precip_mm_h) > 5.0
    assert rainy.sum() >= 7
    assert np.all(pv_wet[rainy] < pv_dry[rainy])

    def cars(world: Any) -> np.ndarray:
        return np.bincount(days, world.traffic_intensity[["car_A", "car_B"]].sum(axis=1))

    assert np.all(cars(wet)[rainy] < cars(dry)[rainy])
    assert np.all(wet.weather.cloud_cover[rainy[days]].mean() > dry.weather.cloud_cover.mean())


def test_a_tmy_weather_rains_on_its_dullest_days(tiny: Scenario) -> None:
    index = planning_index(tiny, 60.0, dt.date(2035, 5, 1))
    world = build_world(tiny, index)
    days = np.asarray(pd.Index(index.normalize()).factorize()[0])
    ghi = np.bincount(days, world.weather.ghi_w_m2)
    rain = np.bincount(days, world.weather.precip_mm_h)
    assert ghi[rain > 0].mean() < ghi[rain == 0].mean()


# ---- the user's own data ------------------------------------------------------------------
def _entries(scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The twin's entries per hour, direction, class and entry interchange of a 1-day run,
    beside the file's counts of the same keys."""
    world = build_world(scenario, planning_index(scenario, 1.0))
    a = world.arrivals
    names = world.layout.ic_names
    start = world.index[0]
    entered = pd.DataFrame(
        {
            "time": start + pd.to_timedelta(a.time_s // 3600 * 3600, unit="s"),
            "direction": np.where(a.direction == 0, "A", "B"),
            "class": np.asarray(VEHICLE_CLASSES)[a.vclass],
            "interchange": np.asarray(names)[a.entry_ic],
        }
    ).value_counts()
    file = pd.read_csv(EXAMPLES / "data" / "tiny-counts.csv")
    file["time"] = pd.to_datetime(file["time"]).dt.tz_localize(scenario.timezone)
    inside = (file["time"] >= start) & (file["time"] < start + pd.Timedelta(days=1))
    counted = file[inside].set_index(["time", "direction", "class", "interchange"])["count"]
    return entered.reindex(counted.index, fill_value=0).to_frame("entered"), counted.to_frame()


def test_counts_replay_into_the_twin_exactly() -> None:
    """With counts of ERS vehicles, the twin's entries per interval, class, direction and
    interchange equal the file's counts."""
    sc = load_scenario(COUNTS, overrides={"traffic.counts.vehicles": "ers"})
    entered, counted = _entries(sc)
    assert counted["count"].sum() > 10_000
    np.testing.assert_array_equal(entered["entered"].to_numpy(), counted["count"].to_numpy())


def test_counts_of_all_vehicles_enter_with_the_ers_share() -> None:
    sc = load_scenario(COUNTS)
    entered, counted = _entries(sc)
    assert (entered["entered"].to_numpy() <= counted["count"].to_numpy()).all()
    by_class = entered.groupby(level="class")["entered"].sum()
    total = counted.groupby(level="class")["count"].sum()
    for name, spec in sc.vehicles.items():
        share = spec.ev_share * spec.receiver_share
        n = total[name]
        assert abs(by_class[name] - n * share) < 4.0 * np.sqrt(n * share * (1 - share))


def test_run_from_the_command_line_on_counts_and_a_pv_meter(tmp_path: Path) -> None:
    from ersgrid.cli import app

    out = tmp_path / "res"
    result = CliRunner().invoke(app, ["run", str(COUNTS), "--days", "1", "-q", "--out", str(out)])
    assert result.exit_code == 0, result.output
    kpis = pd.read_json(out / "kpis.json", typ="series")
    assert kpis["trips"] > 1000
    ts = pd.read_parquet(out / "timeseries.parquet")
    meter = pd.read_csv(EXAMPLES / "data" / "tiny-pv.csv", index_col="time", parse_dates=True)
    noon = ts.index[48].tz_localize(None)
    assert ts["pv_kw"].iloc[48] == pytest.approx(float(meter.loc[noon, "power_kw"]))


def test_paths_are_taken_from_the_scenario_file_not_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    sc = load_scenario(COUNTS)
    assert sc.traffic.counts is not None
    assert Path(sc.traffic.counts.path) == (EXAMPLES / "data" / "tiny-counts.csv").resolve()
    assert Path(sc.renewables.measured[0].path).is_file()


def _counts_copy(tmp_path: Path, edit: Any) -> Scenario:
    lines = (EXAMPLES / "data" / "tiny-counts.csv").read_text().splitlines()
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "tiny-counts.csv").write_text("\n".join(edit(lines)) + "\n")
    (tmp_path / "data" / "tiny-pv.csv").write_text((EXAMPLES / "data" / "tiny-pv.csv").read_text())
    (tmp_path / "s.yaml").write_text(COUNTS.read_text())
    return load_scenario(tmp_path / "s.yaml")


def test_counts_file_errors_name_the_file_line_column_or_period(tmp_path: Path) -> None:
    def world_of(sc: Scenario) -> Any:
        return build_world(sc, planning_index(sc, 1.0)).arrivals

    def bad_class(lines: list[str]) -> list[str]:
        return [*lines[:10], lines[10].replace(",car,", ",lorry,"), *lines[11:]]

    with pytest.raises(DataError, match=r"line 11, column 'class': 'lorry'"):
        world_of(_counts_copy(tmp_path, bad_class))

    def hole(lines: list[str]) -> list[str]:
        return [x for x in lines if not x.startswith("2035-04-02T13:00")]

    with pytest.raises(DataError, match=r"no counts for 2035-04-02 13:00:00\+09:00 \.\. "):
        world_of(_counts_copy(tmp_path, hole))

    def missing_row(lines: list[str]) -> list[str]:
        return [x for x in lines if not (x.startswith("2035-04-02T09:00,A,truck"))]

    with pytest.raises(DataError, match=r"2035-04-02 09:00:00\+09:00 has no row for direction A"):
        world_of(_counts_copy(tmp_path, missing_row))

    def twice(lines: list[str]) -> list[str]:
        return [*lines, lines[5]]

    with pytest.raises(DataError, match="counted twice"):
        world_of(_counts_copy(tmp_path, twice))

    def negative(lines: list[str]) -> list[str]:
        return [*lines[:3], lines[3].rsplit(",", 2)[0] + ",-4," + lines[3].rsplit(",", 1)[1],
                *lines[4:]]  # fmt: skip

    with pytest.raises(DataError, match=r"line 4, column 'count': '-4' is not a whole number"):
        world_of(_counts_copy(tmp_path, negative))

    sc = _counts_copy(tmp_path, lambda lines: lines)
    with pytest.raises(DataError, match=r"no counts for 2035-04-04 00:00:00\+09:00"):
        _ = build_world(sc, planning_index(sc, 3.0)).arrivals


def test_the_forecasting_history_holds_the_counts_and_nan_before_the_file(tmp_path: Path) -> None:
    sc = load_scenario(COUNTS)
    index = history_index(sc, dt.date(2035, 4, 2), 20)
    history = history_frame(build_world(sc, index, history=True), targets=("traffic",))
    known = history["traffic:car_A"].notna()
    assert not known.iloc[: 4 * 96].any()  # the file starts on 17 March
    assert known.iloc[4 * 96 :].all()
    file = pd.read_csv(EXAMPLES / "data" / "tiny-counts.csv")
    day = file[file["time"].str.startswith("2035-03-20") & (file["class"] == "car")]
    cars_a = day[day["direction"] == "A"]["count"].sum()
    on_day = history.index.normalize() == pd.Timestamp("2035-03-20", tz=sc.timezone)
    assert history.loc[on_day, "traffic:car_A"].sum() == pytest.approx(cars_a)


def test_measured_pv_replaces_the_model_and_must_cover_the_run(tmp_path: Path) -> None:
    sc = load_scenario(COUNTS)
    world = build_world(sc, planning_index(sc, 1.0))
    assert world.plants.measured == (False, True)  # the wind farm modelled, the roof measured
    meter = pd.read_csv(EXAMPLES / "data" / "tiny-pv.csv")
    hour = meter[meter["time"] == "2035-04-02T12:00"]["power_kw"].iloc[0]
    np.testing.assert_allclose(world.plants.of_kind("pv")[48:52], hour)

    def gap(lines: list[str]) -> list[str]:
        return [x for x in lines if not x.startswith("2035-04-02T15:00")]

    text = (EXAMPLES / "data" / "tiny-pv.csv").read_text().splitlines()
    sc = _counts_copy(tmp_path, lambda lines: lines)
    (tmp_path / "data" / "tiny-pv.csv").write_text("\n".join(gap(text)) + "\n")
    with pytest.raises(DataError, match=r"no measured value for 2035-04-02 15:00:00\+09:00 \.\. "
                                        r"2035-04-02 16:00:00\+09:00"):  # fmt: skip
        _ = build_world(sc, planning_index(sc, 1.0)).plants


def _price_scenario(tiny_data: dict[str, Any], tmp_path: Path, rows: list[str]) -> Scenario:
    (tmp_path / "prices.csv").write_text("time,price_per_kwh\n" + "\n".join(rows) + "\n")
    data = dict(tiny_data)
    data["prices"] = {"source": "csv", "path": "prices.csv"}
    (tmp_path / "s.yaml").write_text(__import__("yaml").safe_dump(data))
    return load_scenario(tmp_path / "s.yaml")


def test_a_price_file_that_misses_a_period_is_an_error_naming_it(
    tiny_data: dict[str, Any], tmp_path: Path
) -> None:
    hours = pd.date_range("2035-04-02", periods=48, freq="30min")
    rows = [f"{t:%Y-%m-%dT%H:%M},{20 + i % 7}" for i, t in enumerate(hours)]
    sc = _price_scenario(tiny_data, tmp_path, rows)
    prices = build_world(sc, planning_index(sc, 1.0)).price_per_kwh
    assert prices[0] == 20  # each half hour holds for two steps
    assert prices[2] == 21
    holed = [r for r in rows if not r.startswith("2035-04-02T10:")]
    sc = _price_scenario(tiny_data, tmp_path, holed)
    with pytest.raises(DataError, match=r"no price for 2035-04-02 10:00:00\+09:00 \.\. "
                                        r"2035-04-02 11:00:00\+09:00"):  # fmt: skip
        _ = build_world(sc, planning_index(sc, 1.0)).price_per_kwh
    sc = _price_scenario(tiny_data, tmp_path, rows[:40])
    with pytest.raises(DataError, match=r"no price for 2035-04-02 20:00:00\+09:00 \.\. "
                                        r"2035-04-03 00:00:00\+09:00"):  # fmt: skip
        _ = build_world(sc, planning_index(sc, 1.0)).price_per_kwh
    # a history window that the file does not cover is NaN there, not an error
    history = build_world(sc, history_index(sc, dt.date(2035, 4, 3), 3), history=True)
    assert np.isnan(history.price_per_kwh[: 2 * 96]).all()  # 31 March and 1 April
    assert np.isfinite(history.price_per_kwh[2 * 96 : 2 * 96 + 80]).all()
    assert np.isnan(history.price_per_kwh[2 * 96 + 80 :]).all()


def test_a_day_brings_the_same_vehicles_in_every_window(tiny: Scenario) -> None:
    """Arrivals are drawn day by day from the seed: the second day of a 2-day world is the
    1-day world of that day, and a 6-hour window is the same day's first six hours."""
    two = build_world(tiny, planning_index(tiny, 2.0)).arrivals
    day2 = build_world(tiny, planning_index(tiny, 1.0, dt.date(2035, 4, 3))).arrivals
    later = two.time_s >= 86_400.0
    np.testing.assert_array_equal(two.vehicle_id[later], day2.vehicle_id)
    np.testing.assert_allclose(two.time_s[later] - 86_400.0, day2.time_s)
    np.testing.assert_array_equal(two.energy_kwh[later], day2.energy_kwh)
    six = build_world(tiny, planning_index(tiny, 0.25)).arrivals
    morning = two.time_s < 6 * 3600.0
    np.testing.assert_array_equal(two.vehicle_id[morning], six.vehicle_id)


# ---- one loop contract --------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["uncontrolled", "tou", "mpc-expected", "oracle", "mpc"])
def test_batch_and_live_give_the_same_kpis(tiny: Scenario, strategy: str) -> None:
    """The live loop drives the run's Stepper in 15-s ticks; the batch run in whole planning
    steps. Same world, same strategy: the same KPIs."""
    from ersgrid.service.live import LiveLoop

    days = 0.25
    batch = run(tiny, strategy, days=days)
    loop = LiveLoop(tiny, strategy, days=days)
    while loop.tick() is not None:
        pass
    assert loop.result is not None
    live = loop.result.kpis
    skip = {"wall_time_s", "grid_check_s"}
    for key, value in batch.kpis.items():
        if key in skip:
            continue
        if isinstance(value, float):
            assert live[key] == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True), key
        else:
            assert live[key] == value, key


def test_the_bdew_profiles_leave_the_process_warning_filters_as_they_were() -> None:
    import warnings

    from ersgrid.data.profiles import _year_profiles

    _year_profiles.cache_clear()
    before = list(warnings.filters)
    _year_profiles(2031)
    assert warnings.filters == before
