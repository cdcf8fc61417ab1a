"""Forecasts in the loop: the twin's shaped traffic, mpc's stored forecasts, the report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ersgrid.control.mpc import MPC
from ersgrid.forecast.forecaster import Forecaster, LearnedTraffic
from ersgrid.forecast.models import GradientBoosting
from ersgrid.report.html import write_report
from ersgrid.run import run
from ersgrid.run.runner import RunResult
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import planning_index
from ersgrid.world import build_world, generate_history


def traffic_intensity(scenario: Scenario, index: pd.DatetimeIndex) -> pd.DataFrame:
    return build_world(scenario, index).traffic_intensity


def traffic_weather(scenario: Scenario, index: pd.DatetimeIndex) -> pd.DataFrame:
    return build_world(scenario, index).weather.frame()


def _small_gbm() -> GradientBoosting:
    return GradientBoosting(n_estimators=40, learning_rate=0.2, calibration_days=0)


def test_intensity_of_a_day_is_the_same_in_every_window(tiny: Scenario) -> None:
    long = planning_index(tiny, 10.0, dt.date(2035, 4, 25))
    short = planning_index(tiny, 2.0, dt.date(2035, 4, 30))
    a = traffic_intensity(tiny, long).loc[short]
    b = traffic_intensity(tiny, short)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        traffic_weather(tiny, long).loc[short], traffic_weather(tiny, short)
    )
    other = traffic_intensity(tiny.model_copy(update={"seed": tiny.seed + 1}), short)
    assert not np.allclose(other.to_numpy(), b.to_numpy())


def test_golden_week_moves_the_twin_traffic_like_the_history(tiny: Scenario) -> None:
    index = planning_index(tiny, 3.0, dt.date(2035, 4, 30))  # Tuesday 30 April: a working day
    shaped = traffic_intensity(tiny, index)
    naive = build_world(tiny, index).model_volume
    cars = (shaped["car_A"] + shaped["car_B"]).sum() / (naive["car_A"] + naive["car_B"]).sum()
    trucks = (shaped["truck_A"] + shaped["truck_B"]).sum() / (
        naive["truck_A"] + naive["truck_B"]
    ).sum()
    assert cars > 1.1  # leisure traffic up (car factor 1.25 less weather and day effects)
    assert trucks < 0.8  # freight pauses (truck factor 0.65)
    # the history counts the same intensity: its daily totals are Poisson about it
    history = generate_history(tiny, end=dt.date(2035, 5, 3), days=3)
    counted = history["traffic:car_A"].to_numpy().sum()
    mean = shaped["car_A"].to_numpy().sum()
    assert abs(counted - mean) < 5.0 * np.sqrt(mean)


def test_the_run_draws_arrivals_from_the_shaped_intensity(tiny: Scenario) -> None:
    result = run(tiny, "uncontrolled", days=0.25, start=dt.date(2035, 4, 30))
    index = planning_index(tiny, 0.25, dt.date(2035, 4, 30))
    intensity = result.world.traffic_intensity
    pd.testing.assert_frame_equal(intensity, traffic_intensity(tiny, index))
    assert not np.allclose(intensity.to_numpy(), result.world.expected_volume.to_numpy())
    arrivals = result.world.arrivals
    assert len(arrivals) > 0


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[MPC, RunResult]:
    """tiny under mpc with small learned models (35 days of history) for 6 hours."""
    from ersgrid.scenario.loader import load_scenario

    policy = MPC(forecaster=LearnedTraffic(model=_small_gbm, history_days=35, model_cache=None))
    result = run(load_scenario("tiny"), policy, days=0.25)
    return policy, result


def test_mpc_stores_the_renewable_forecasts_it_planned_on(
    learned_run: tuple[MPC, RunResult], tmp_path: Path
) -> None:
    _, result = learned_run
    ts = result.timeseries
    for kind in ("pv", "wind"):
        assert ts[f"{kind}_kw"].notna().all()
        assert (ts[f"forecast_{kind}_p10_kw"] <= ts[f"forecast_{kind}_p50_kw"] + 1e-9).all()
        assert (ts[f"forecast_{kind}_p50_kw"] <= ts[f"forecast_{kind}_p90_kw"] + 1e-9).all()
    np.testing.assert_allclose(ts["pv_kw"] + ts["wind_kw"], ts["renewable_kw"], rtol=1e-9)
    page = write_report([result], tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Renewable output: the planner" in page
    assert "PV: forecast used by mpc against actual" in page
    assert "Wind: forecast used by mpc against actual" in page
    assert "forecast (mpc)" in page  # the traffic figure shows the learned forecast


def test_stored_forecasts_use_no_data_after_their_issue_time(
    learned_run: tuple[MPC, RunResult],
) -> None:
    policy, result = learned_run
    ts = result.timeseries
    issued = pd.Timestamp(ts["forecast_issued"].iloc[0])
    assert (ts["forecast_issued"] == issued).all()  # one plan for 6 hours
    assert isinstance(policy.forecaster, LearnedTraffic)
    history = policy.forecaster.forecaster_for(policy.context).history
    targets = [c for c in history.columns if not str(c).startswith("wxf:")]
    n = len(ts)

    def refit(altered: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        fc = Forecaster(altered, "JP", model=_small_gbm)
        # fit as the run did: traffic models at its first issue (the vehicles already on the
        # road at the start, ``lookback`` steps before it), PV at the plan's issue
        for column in [c for c in altered.columns if str(c).startswith("traffic:")]:
            fc.model_for(column, issued - policy._lookback * pd.Timedelta(minutes=15))
        pv = fc.predict("pv", issued, n)["p50"].to_numpy()
        cars = fc.traffic_forecast(issued, n)
        return pv, (cars["car_A"] + cars["car_B"]).to_numpy()

    # every measured value at and after the issue time (targets and realised weather) changed
    future = history.copy()
    after = future.index >= issued
    future.loc[after, targets] = future.loc[after, targets] * 3.0 + 7.0
    pv, cars = refit(future)
    np.testing.assert_allclose(pv, ts["forecast_pv_p50_kw"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(cars, ts["forecast_traffic_car_veh"].to_numpy(), rtol=1e-12)
    # the check can fail: the day before the issue time does move the forecast
    past = history.copy()
    before = (past.index < issued) & (past.index >= issued - pd.Timedelta(days=1))
    past.loc[before, targets] = past.loc[before, targets] * 3.0 + 7.0
    pv_past, _ = refit(past)
    assert not np.allclose(pv_past, ts["forecast_pv_p50_kw"].to_numpy())
