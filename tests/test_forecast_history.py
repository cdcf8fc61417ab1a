"""Generated history, users' history files, the forecaster's traffic entry point, the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ersgrid.cli import app
from ersgrid.errors import DataError
from ersgrid.forecast.forecaster import Forecaster
from ersgrid.forecast.importers import parse_history, read_history
from ersgrid.forecast.models import GradientBoosting
from ersgrid.scenario.loader import load_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.world import build_world, generate_history


def test_history_columns_totals_and_seed(tiny: Scenario) -> None:
    h = generate_history(tiny, end=dt.date(2035, 3, 30), days=28)
    assert len(h) == 28 * 96
    assert str(h.index.tz) == "Asia/Tokyo"
    classes = [c for c in h.columns if c.startswith("traffic:")]
    columns = build_world(tiny, h.index[:1]).model_volume
    assert sorted(classes) == sorted(f"traffic:{c}" for c in columns)
    np.testing.assert_allclose(h["traffic"], h[classes].sum(axis=1))
    assert (h[classes] >= 0).all().all()
    np.testing.assert_array_equal(h[classes], np.round(h[classes]))  # counts
    daily = h["traffic"].sum() / 28
    assert 0.85 * tiny.traffic.daily_volume < daily < 1.1 * tiny.traffic.daily_volume
    facility = sum(sa.facility_load_kw for sa in tiny.service_areas)
    assert h["demand"].mean() == pytest.approx(facility, rel=0.1)
    assert h["demand"].std() > 0.02 * facility  # metered demand moves, it is not the profile
    assert {"price", "co2", "wx:temp_c", "wxf:temp_c", "wxf:precip_mm_h"} <= set(h.columns)
    again = generate_history(tiny, end=dt.date(2035, 3, 30), days=28)
    pd.testing.assert_frame_equal(h, again)
    other = generate_history(tiny, end=dt.date(2035, 3, 30), days=28, seed=99)
    assert not np.array_equal(other["traffic"], h["traffic"])


def test_golden_week_moves_cars_up_and_trucks_down() -> None:
    sc = load_scenario("shin-tomei")
    h = generate_history(sc, end=dt.date(2035, 5, 20), days=35)
    base = build_world(sc, pd.DatetimeIndex(h.index)).model_volume
    day = pd.Index(h.index.date)
    gw = (day >= dt.date(2035, 4, 29)) & (day <= dt.date(2035, 5, 5))
    normal = (day >= dt.date(2035, 5, 8)) & (day <= dt.date(2035, 5, 19))

    def ratio(col: str, sel: np.ndarray) -> float:
        return float(h[f"traffic:{col}"][sel].sum() / base[col][sel].sum())

    assert ratio("car_A", gw) > 1.12 * ratio("car_A", normal)
    assert ratio("truck_A", gw) < 0.8 * ratio("truck_A", normal)


def test_rain_thins_car_traffic() -> None:
    sc = load_scenario("shin-tomei")
    h = generate_history(sc, end=dt.date(2035, 8, 1), days=90)
    base = build_world(sc, pd.DatetimeIndex(h.index)).model_volume
    ratio = (h["traffic:car_A"] + h["traffic:car_B"]) / (base["car_A"] + base["car_B"])
    day_time = (h.index.hour >= 7) & (h.index.hour < 20)
    wet = day_time & (h["wx:precip_mm_h"] > 3.0)
    dry = day_time & (h["wx:precip_mm_h"] == 0.0)
    assert wet.sum() > 50
    assert ratio[wet].mean() < 0.96 * ratio[dry].mean()


# --- users' history files -------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "h.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_long_layout_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,target,value\n"
        "2035-04-02T00:00:00+09:00,demand,410.5\n"
        "2035-04-02T00:00:00+09:00,pv,0\n"
        "2035-04-02T00:30:00+09:00,demand,402\n",
    )
    h = read_history(path, "Asia/Tokyo")
    assert list(h.columns) == ["demand", "pv"]
    assert len(h) == 3  # the missing 00:15 step is a gap
    assert np.isnan(h["demand"].iloc[1])
    assert h["demand"].iloc[2] == 402.0
    assert h.index[0] == pd.Timestamp("2035-04-02 00:00", tz="Asia/Tokyo")


def test_traffic_count_layout_in_parquet_splits_by_direction(tmp_path: Path) -> None:
    idx = pd.date_range("2035-01-01", periods=40 * 96, freq="15min", tz="Asia/Tokyo")
    rng = np.random.default_rng(3)
    shape = 1 + np.sin(2 * np.pi * (idx.hour - 8) / 24)
    raw = pd.DataFrame(
        {
            "timestamp": idx.tz_localize(None).strftime("%Y-%m-%dT%H:%M:%S"),
            "car": rng.poisson(100 * shape),
            "truck": rng.poisson(40 * shape),
        }
    )
    path = tmp_path / "counts.parquet"
    raw.to_parquet(path)
    h = read_history(path, "Asia/Tokyo")
    assert set(h.columns) == {"traffic:car", "traffic:truck", "traffic"}
    fc = Forecaster(h, "JP", model=lambda: GradientBoosting(n_estimators=20, calibration_days=0))
    out = fc.traffic_forecast(idx[-96], 96)
    assert list(out.columns) == ["car_A", "car_B", "truck_A", "truck_B"]
    np.testing.assert_allclose(out["car_A"], out["car_B"])  # 50/50 split by default


HEADER = "timestamp,target,value\n"
OK = "2035-04-02T00:00:00+09:00,demand,1\n"
T1 = "2035-04-02T00:15:00+09:00"
ROW2 = r"row 2 \(line 3\)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEADER + OK + "2035-04-02 25:00,demand,1\n", ROW2 + ": timestamp '2035-04-02 25:00'"),
        (HEADER + OK + T1 + ",demand,lots\n", ROW2 + ": column 'value' holds 'lots'"),
        (HEADER + OK + T1 + ",demand,\n", ROW2 + ": column 'value'"),
        (HEADER + OK + "2035-04-02T00:10:00+09:00,demand,1\n", ROW2 + ".*15-min grid"),
        (HEADER + OK + OK, ROW2 + ": repeats row 1"),
        (HEADER + OK + "2035-04-02T00:15:00,demand,1\n", ROW2 + ".*mixes local times"),
        (HEADER + OK + T1 + ",,1\n", ROW2 + ": empty target"),
        ("timestamp,car,truck\n" + T1 + ",10,-3\n", r"row 1 \(line 2\).*negative vehicle count"),
        ("timestamp,cars,truck\n2035-04-02T00:00:00+09:00,10,3\n", r"\['cars'\] are neither"),
        ("time,target,value\n", r"no 'timestamp' column"),
    ],
)  # fmt: skip
def test_malformed_history_names_the_row(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_history(write(tmp_path, text), "Asia/Tokyo")


def test_local_times_need_a_zone_and_must_exist() -> None:
    raw = pd.DataFrame({"timestamp": ["2035-03-25T01:45:00", "2035-03-25T02:15:00"], "car": [1, 2]})
    with pytest.raises(DataError, match="no UTC offset"):
        parse_history(raw, "x.csv")
    with pytest.raises(DataError, match=r"row 2: local time .* does not exist in Europe/Stockholm"):
        parse_history(raw, "x.csv", "Europe/Stockholm")


# --- the forecaster's traffic entry point and the CLI ---------------------------------------


def test_traffic_forecast_has_the_layout_of_expected_volume(tiny: Scenario) -> None:
    fc = Forecaster.for_scenario(
        tiny,
        days=1,
        history_days=35,
        model=lambda: GradientBoosting(n_estimators=40, calibration_days=0),
    )
    start = pd.Timestamp(tiny.simulation.start).tz_localize(tiny.timezone)
    out = fc.traffic_forecast(start, 96)
    expected = build_world(tiny, pd.DatetimeIndex(out.index)).model_volume
    assert list(out.columns) == list(expected.columns)
    assert (out.to_numpy() >= 0).all()
    assert out.to_numpy().sum() == pytest.approx(expected.to_numpy().sum(), rel=0.15)
    p90 = fc.traffic_forecast(start, 96, quantile="p90")
    assert (p90.to_numpy() >= out.to_numpy() - 1e-9).all()
    # the run's own steps are in the history, but not read before their time
    assert fc.history.index[-1] >= out.index[-1]


def test_cli_backtest_prints_metrics_and_writes_the_plot(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["forecast", "backtest", "tiny", "--target", "traffic", "--days", "2"]
    result = runner.invoke(app, [*args, "--history-days", "35", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "skill" in result.output
    assert "P10–P90 coverage" in result.output
    html = (tmp_path / "forecast-traffic.html").read_text(encoding="utf-8")
    assert "seasonal naive" in html
    assert "P10\\u2013P90" in html or "P10–P90" in html
    bad = runner.invoke(app, ["forecast", "backtest", "tiny", "--target", "snow", "--days", "2"])
    assert bad.exit_code == 2
    assert "unknown target 'snow'" in bad.output


def test_cli_backtest_on_a_users_history_file(tmp_path: Path) -> None:
    idx = pd.date_range("2035-01-01", periods=6 * 7 * 96, freq="15min", tz="Europe/Stockholm")
    rng = np.random.default_rng(5)
    load = 100 + 30 * np.sin(2 * np.pi * (idx.hour - 8) / 24) + rng.normal(0, 3, len(idx))
    pd.DataFrame(
        {"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%S%z"), "target": "demand", "value": load}
    ).to_csv(tmp_path / "mine.csv", index=False)
    args = ["forecast", "backtest", "e20", "--target", "demand", "--days", "3", "--model"]
    result = CliRunner().invoke(
        app, [*args, "naive", "--history", str(tmp_path / "mine.csv"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "seasonal naive" in result.output
    assert (tmp_path / "forecast-demand.html").exists()


def test_learned_traffic_serves_the_mpc_protocol(tiny: Scenario) -> None:
    from ersgrid.control.base import RunContext
    from ersgrid.forecast import LearnedTraffic
    from ersgrid.timeindex import planning_index

    index = planning_index(tiny, 1.0)
    world = build_world(tiny, index)
    volume = world.model_volume
    context = RunContext(world=world, energy=world.energy, layout=world.layout)
    learned = LearnedTraffic(
        model=lambda: GradientBoosting(n_estimators=40, learning_rate=0.2, calibration_days=0),
        history_days=35,
    )
    out = learned.forecast(context, issued=40, start=36, stop=40 + 96)
    assert list(out.columns) == list(volume.columns)
    assert len(out) == 100
    assert out.index[0] == 0
    # the rows before the issue step come from the forecast issued at their own start
    fc = learned.forecaster_for(context)
    past = fc.traffic_forecast(index[36], 4)
    np.testing.assert_allclose(out.iloc[:4].to_numpy(), past.to_numpy())
    ahead = fc.traffic_forecast(index[40], 96)
    np.testing.assert_allclose(out.iloc[4:].to_numpy(), ahead.to_numpy())
    assert learned.forecaster_for(context) is fc  # one forecaster per run
    steps = pd.date_range(index[36], periods=100, freq="15min")
    expected = build_world(tiny, steps).model_volume.to_numpy().sum()
    assert out.to_numpy().sum() == pytest.approx(expected, rel=0.15)
