"""Forecast models, metrics and backtests on small hand-made and synthetic series."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from ersgrid.errors import DataError, ErsgridError
from ersgrid.forecast import metrics as m
from ersgrid.forecast.backtest import backtest
from ersgrid.forecast.features import STEPS_PER_DAY, STEPS_PER_WEEK, covariates, lag_features
from ersgrid.forecast.forecaster import Forecaster
from ersgrid.forecast.models import GradientBoosting, SeasonalNaive, TargetModel

TZ = "Asia/Tokyo"


def small_gbm() -> GradientBoosting:
    return GradientBoosting(n_estimators=40, learning_rate=0.15, calibration_days=7)


def index(weeks: int, start: str = "2035-01-07") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=weeks * STEPS_PER_WEEK, freq="15min", tz=TZ)


def synthetic_demand(weeks: int = 10, seed: int = 0) -> pd.DataFrame:
    """Service-area load [kW]: daily and weekly shape, temperature response, AR(1) day effect,
    metering noise; with a noisy temperature forecast column."""
    rng = np.random.default_rng(seed)
    idx = index(weeks)
    hour = idx.hour + idx.minute / 60
    daily = 1.0 + 0.35 * np.sin(2 * np.pi * (hour - 9) / 24) + 0.15 * (idx.hour.isin([12, 13]))
    weekly = np.where(idx.dayofweek >= 5, 1.15, 1.0)  # more leisure trips at weekends
    n_days = weeks * 7
    temp_day = 5.0 + np.cumsum(rng.normal(0, 1.5, n_days)) * 0.6
    day = np.repeat(np.arange(n_days), STEPS_PER_DAY)
    temp = temp_day[day] + 3 * np.sin(2 * np.pi * (hour - 9) / 24)
    heating = 1.0 + 0.02 * np.maximum(0.0, 14.0 - temp_day[day])
    noise = rng.lognormal(0, 0.03, len(idx))
    load = 300.0 * daily * weekly * heating * noise
    forecast_temp = temp + np.repeat(rng.normal(0, 1.0, n_days), STEPS_PER_DAY)
    return pd.DataFrame({"demand": load, "wxf:temp_c": forecast_temp}, index=idx)


def with_profile(hist: pd.DataFrame, scale_last_week: float = 1.0) -> pd.DataFrame:
    """``synthetic_demand`` as a known profile (shape × level) times the weather and noise,
    with the profile (and so the load) scaled by ``scale_last_week`` in the last week."""
    idx = pd.DatetimeIndex(hist.index)
    hour = idx.hour + idx.minute / 60
    daily = 1.0 + 0.35 * np.sin(2 * np.pi * (hour - 9) / 24) + 0.15 * (idx.hour.isin([12, 13]))
    profile = 300.0 * daily * np.where(idx.dayofweek >= 5, 1.15, 1.0)
    level = np.where(idx >= idx[-STEPS_PER_WEEK], scale_last_week, 1.0)
    return hist.assign(demand=hist["demand"] * level, **{"profile:demand": profile * level})


def synthetic_pv(weeks: int = 10, seed: int = 1) -> pd.DataFrame:
    """PV [kW] of a 1 MW plant: a clear-sky bell times a persistent daily clearness, with a
    clearness forecast column."""
    rng = np.random.default_rng(seed)
    idx = index(weeks, "2035-05-06")
    hour = idx.hour + idx.minute / 60
    bell = np.clip(np.sin(np.pi * (hour - 5.0) / 14.0), 0.0, None) ** 1.3
    n_days = weeks * 7
    clear = np.clip(0.65 + 0.3 * np.tanh(np.cumsum(rng.normal(0, 0.7, n_days)) / 3), 0.1, 1.0)
    clear = np.clip(clear + rng.normal(0, 0.15, n_days), 0.05, 1.0)
    day = np.repeat(np.arange(n_days), STEPS_PER_DAY)
    pv = 1000.0 * 0.85 * bell * clear[day] * rng.uniform(0.9, 1.0, len(idx))
    forecast = np.clip(clear + rng.normal(0, 0.08, n_days), 0.0, 1.0)[day]
    return pd.DataFrame({"pv": pv, "wxf:clearness": forecast}, index=idx)


# --- seasonal naive on a hand-made series -------------------------------------------------


def test_seasonal_naive_is_same_step_last_week_on_hand_made_series() -> None:
    idx = index(3)
    pattern = np.arange(STEPS_PER_WEEK, dtype=float) % 17  # any weekly pattern
    week = np.repeat(np.arange(3), STEPS_PER_WEEK)
    y = pd.Series(pattern[np.arange(len(idx)) % STEPS_PER_WEEK] + 10.0 * week, index=idx)
    model = SeasonalNaive()
    model.fit(y.iloc[: 2 * STEPS_PER_WEEK], pd.DataFrame(index=idx))
    issue = idx[2 * STEPS_PER_WEEK + 5]
    future = pd.date_range(issue, periods=8, freq="15min")
    out = model.predict(y.loc[y.index < issue], pd.DataFrame(index=idx), future)
    # same step one week earlier: pattern value + 10 (week 1), while the actual is + 20
    expected = pattern[5:13] + 10.0
    np.testing.assert_array_equal(out["p50"].to_numpy(), expected)
    # every training residual (week 1 - week 0) is exactly +10: P90 sits at +10, and P10
    # (also +10) is held at P50 so the quantiles do not cross
    np.testing.assert_array_equal(out["p10"].to_numpy(), expected)
    np.testing.assert_array_equal(out["p90"].to_numpy(), expected + 10.0)
    assert m.mae(y.loc[future].to_numpy(), out["p50"].to_numpy()) == pytest.approx(10.0)


def test_metrics_by_hand() -> None:
    actual = np.array([10.0, 20.0, 0.0, 40.0])
    forecast = np.array([12.0, 15.0, 1.0, 40.0])
    assert m.mae(actual, forecast) == pytest.approx(2.0)
    # MAPE skips the zero actual: (0.2 + 0.25 + 0) / 3
    assert m.mape(actual, forecast) == pytest.approx(100 * 0.45 / 3)
    assert m.wape(actual, forecast) == pytest.approx(100 * 8 / 70)
    assert m.nmae(actual, forecast, capacity=50.0) == pytest.approx(4.0)
    # pinball 0.9: under-forecast costs 0.9 per unit, over-forecast 0.1
    assert m.pinball(np.array([10.0, 10.0]), np.array([8.0, 12.0]), 0.9) == pytest.approx(1.0)
    assert m.coverage(actual, forecast - 1.5, forecast + 1.5) == pytest.approx(50.0)
    assert m.skill(2.0, 4.0) == pytest.approx(0.5)


# --- no feature leaks the future ------------------------------------------------------------


def test_the_day_mean_forecast_temperature_is_a_covariate() -> None:
    idx = index(1)
    wx = pd.DataFrame({"wxf:temp_c": np.arange(len(idx), dtype=np.float64)}, index=idx)
    cov = covariates(idx, None, wx)
    day = np.arange(len(idx)) // STEPS_PER_DAY
    expected = STEPS_PER_DAY * day + (STEPS_PER_DAY - 1) / 2  # mean of each day's 0 … 95
    np.testing.assert_allclose(cov["temp_day_c"].to_numpy(), expected)
    assert "temp_day_c" not in covariates(idx, None, wx.rename(columns=str.upper)).columns
    # a day the index covers only in part: the mean of the steps it has
    half = covariates(idx[48:144], None, wx)
    assert half["temp_day_c"].iloc[0] == pytest.approx(np.mean(np.arange(48, 96)))


def test_lag_features_refuse_lag_zero_and_are_old_enough() -> None:
    y = pd.Series(np.arange(5 * STEPS_PER_WEEK, dtype=float), index=index(5))
    with pytest.raises(ValueError, match="lag of 0"):
        lag_features(y, 0)
    lags = lag_features(y, 192)
    t = 4 * STEPS_PER_WEEK + 10
    # every lag of step t is built only from values at least 192 steps older
    assert lags["lag_recent"].iloc[t] == t - 192
    assert lags["level_day"].iloc[t] == pytest.approx(np.mean(np.arange(t - 192 - 95, t - 191)))
    assert lags["lag_week"].iloc[t] == t - STEPS_PER_WEEK


class RecordingNaive(SeasonalNaive):
    """Seasonal naive that records what it was given."""

    log: ClassVar[list[tuple[str, pd.Timestamp, pd.Timestamp | None]]] = []

    def fit(self, y: pd.Series, covariates: pd.DataFrame) -> None:
        RecordingNaive.log.append(("fit", y.index[-1], None))
        super().fit(y, covariates)

    def predict(
        self, y_known: pd.Series, covariates: pd.DataFrame, index: pd.DatetimeIndex
    ) -> pd.DataFrame:
        RecordingNaive.log.append(("predict", y_known.index[-1], index[0]))
        return super().predict(y_known, covariates, index)


def test_rolling_origin_never_uses_data_after_the_origin() -> None:
    hist = synthetic_demand(weeks=6)
    RecordingNaive.log = []
    result = backtest(hist, "demand", None, days=10, model=RecordingNaive, refit_every_days=3)
    fits = [e for e in RecordingNaive.log if e[0] == "fit"]
    predicts = [e for e in RecordingNaive.log if e[0] == "predict"]
    assert len(predicts) == 10
    assert result.fits == len(fits) == 4
    origins = sorted(result.forecasts["origin"].unique())
    for (_, last_seen, first_step), origin in zip(predicts, origins, strict=True):
        assert first_step == origin
        assert last_seen == origin - pd.Timedelta(minutes=15)  # the step before the origin
    fit_ends = [e[1] for e in fits]
    assert fit_ends == sorted(fit_ends)
    assert len(set(fit_ends)) == 4
    for end, origin in zip(fit_ends, origins[::3], strict=True):
        assert end < origin


def test_forecasts_do_not_change_when_the_future_is_replaced() -> None:
    hist = synthetic_demand(weeks=6)
    issue = hist.index[5 * STEPS_PER_WEEK]
    scrambled = hist.copy()
    after = scrambled.index >= issue
    scrambled.loc[after, "demand"] = np.random.default_rng(9).uniform(0, 1e4, after.sum())
    a = Forecaster(hist, None, model=small_gbm).predict("demand", issue, 192)
    b = Forecaster(scrambled, None, model=small_gbm).predict("demand", issue, 192)
    pd.testing.assert_frame_equal(a, b)


def test_forecasts_relative_to_the_profile_do_not_see_the_future_either() -> None:
    hist = with_profile(synthetic_demand(weeks=6))
    issue = hist.index[5 * STEPS_PER_WEEK]
    scrambled = hist.copy()
    after = scrambled.index >= issue
    scrambled.loc[after, "demand"] = np.random.default_rng(9).uniform(0, 1e4, after.sum())
    fc = Forecaster(hist, None, model=small_gbm)
    a = fc.predict("demand", issue, 192)
    b = Forecaster(scrambled, None, model=small_gbm).predict("demand", issue, 192)
    pd.testing.assert_frame_equal(a, b)
    model = fc.model_for("demand", issue)
    assert isinstance(model, GradientBoosting)
    assert model._relative  # the known profile was used as the scale


class LeakyGbm(GradientBoosting):
    """Gradient boosting with the target itself shifted into its features (lag 0): a leak."""

    def __init__(self) -> None:
        super().__init__(n_estimators=40, learning_rate=0.15, calibration_days=0)

    def _design(self, y: pd.Series, covariates: pd.DataFrame) -> pd.DataFrame:
        x = super()._design(y, covariates)
        x["leak"] = y.shift(0)
        return x


def test_a_leaked_target_collapses_the_error_but_the_pipeline_blocks_it() -> None:
    hist = synthetic_demand(weeks=8)
    y = hist["demand"]
    cov = covariates(pd.DatetimeIndex(hist.index), None, hist)
    split = 7 * STEPS_PER_WEEK
    # outside the pipeline (features on the full series) the leak makes the score collapse
    leaky = LeakyGbm()
    leaky.fit(y.iloc[:split], cov.iloc[:split])
    leaked = leaky.predict_matrix(leaky._design(y, cov).iloc[split:])[:, 1]
    honest = small_gbm()
    honest.fit(y.iloc[:split], cov.iloc[:split])
    honest_pred = honest.predict_matrix(honest._design(y, cov).iloc[split:])[:, 1]
    actual = y.iloc[split:].to_numpy()
    assert m.mae(actual, leaked) < 0.5 * m.mae(actual, honest_pred)
    # inside the rolling-origin backtest the same model cannot see the target: no gain
    leak_bt = backtest(hist, "demand", None, days=5, model=LeakyGbm)
    honest_bt = backtest(hist, "demand", None, days=5, model=small_gbm)
    assert leak_bt.scores["model"]["mae"] > 0.85 * honest_bt.scores["model"]["mae"]


def test_horizon_beyond_the_youngest_lag_is_refused() -> None:
    hist = synthetic_demand(weeks=5)
    fc = Forecaster(hist, None, model=small_gbm)
    with pytest.raises(ErsgridError, match="without looking at the future"):
        fc.predict("demand", hist.index[4 * STEPS_PER_WEEK], 193)
    with pytest.raises(ErsgridError, match="unknown forecast target"):
        fc.predict("wxf:temp_c", hist.index[4 * STEPS_PER_WEEK], 4)


# --- the models learn something real --------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "target", "capacity"),
    [(synthetic_demand, "demand", None), (synthetic_pv, "pv", 1000.0)],
)
def test_gradient_boosting_beats_seasonal_naive(
    make: type[pd.DataFrame], target: str, capacity: float | None
) -> None:
    hist = make()
    result = backtest(hist, target, None, days=7, model=small_gbm, capacity=capacity)
    s = result.scores
    assert s["skill"]["all"] > 0.15, s
    assert 55.0 <= s["model"]["coverage_pct"] <= 97.0, s
    assert s["model"]["pinball"] < s["seasonal_naive"]["pinball"]
    if capacity is not None:
        assert s["model"]["nmae_pct"] == pytest.approx(100 * s["model"]["mae"] / capacity)


def test_a_load_learnt_relative_to_its_profile_follows_a_new_level() -> None:
    """The site's load grows by half in the last week and its profile with it (a new shop):
    the ratio carries over, the level learnt from the old weeks and old lags does not."""
    hist = with_profile(synthetic_demand(weeks=7), scale_last_week=1.5)
    issue = hist.index[-STEPS_PER_WEEK]
    actual = hist["demand"].loc[issue:].iloc[:192].to_numpy()

    def p50(relative: bool) -> npt.NDArray[np.float64]:
        def make() -> GradientBoosting:
            return GradientBoosting(
                n_estimators=40,
                learning_rate=0.15,
                calibration_days=0,
                relative_to_profile=relative,
            )

        q = Forecaster(hist, None, model=make).predict("demand", issue, 192)
        return np.asarray(q["p50"].to_numpy(), dtype=np.float64)

    ratio_mae, level_mae = m.mae(actual, p50(True)), m.mae(actual, p50(False))
    assert ratio_mae < 0.05 * actual.mean()  # metering noise σ = 3 %, weather known
    assert ratio_mae < 0.5 * level_mae


def test_a_profile_with_zeros_is_a_feature_not_a_scale() -> None:
    hist = with_profile(synthetic_demand(weeks=5))
    hist.iloc[:10, hist.columns.get_loc("profile:demand")] = 0.0
    issue = hist.index[4 * STEPS_PER_WEEK]
    fc = Forecaster(hist, None, model=small_gbm)
    assert np.isfinite(fc.predict("demand", issue, 96).to_numpy()).all()
    model = fc.model_for("demand", issue)
    assert isinstance(model, GradientBoosting)
    assert not model._relative


def test_quantiles_are_missing_where_the_profile_is_unknown() -> None:
    hist = with_profile(synthetic_demand(weeks=5))
    issue = hist.index[4 * STEPS_PER_WEEK]
    gap = (hist.index >= issue + pd.Timedelta(hours=6)) & (
        hist.index < issue + pd.Timedelta(hours=7)
    )
    hist.loc[gap, "profile:demand"] = np.nan
    q = Forecaster(hist, None, model=small_gbm).predict("demand", issue, 96)
    assert q.loc[hist.index[gap]].isna().all().all()
    assert q.loc[~q.index.isin(hist.index[gap])].notna().all().all()


def test_sklearn_backend_and_plug_in_models() -> None:
    hist = synthetic_demand(weeks=5)
    issue = hist.index[4 * STEPS_PER_WEEK]
    hgb = Forecaster(
        hist, None, model=lambda: GradientBoosting("sklearn", n_estimators=30, calibration_days=0)
    )
    q = hgb.predict("demand", issue, 96)
    assert list(q.columns) == ["p10", "p50", "p90"]
    assert len(q) == 96
    assert (q["p10"] <= q["p50"]).all()
    assert (q["p50"] <= q["p90"]).all()
    plug = Forecaster(hist, None, model="ersgrid.forecast.models:SeasonalNaive")
    assert isinstance(plug.model_for("demand", issue), TargetModel)
    with pytest.raises(ErsgridError, match="not a subclass"):
        Forecaster(hist, None, model="pandas:DataFrame").predict("demand", issue, 4)


def test_backtest_rejects_an_empty_target() -> None:
    hist = synthetic_demand(weeks=6).assign(wind=0.0)
    with pytest.raises(DataError, match="zero or missing throughout"):
        backtest(hist, "wind", None, days=3)


def test_observed_values_reach_the_next_forecast() -> None:
    hist = synthetic_demand(weeks=3)
    fc = Forecaster(hist, None, model="naive")
    issue = hist.index[2 * STEPS_PER_WEEK]
    before = fc.predict("demand", issue, 4)["p50"]
    week_ago = pd.date_range(issue - pd.Timedelta(days=7), periods=4, freq="15min")
    fc.observe(pd.DataFrame({"demand": [1.0, 2.0, 3.0, 4.0]}, index=week_ago))
    after = fc.predict("demand", issue, 4)["p50"]
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after.to_numpy(), [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(DataError, match="outside the history"):
        fc.observe(pd.DataFrame({"demand": [1.0]}, index=[issue + pd.Timedelta(days=30)]))
    with pytest.raises(DataError, match="not targets"):
        fc.observe(pd.DataFrame({"load": [1.0]}, index=[issue]))


def test_issued_every_stitches_day_ahead_forecasts() -> None:
    hist = synthetic_demand(weeks=4)
    fc = Forecaster(hist, None, model="naive")
    run = pd.DatetimeIndex(hist.index[3 * STEPS_PER_WEEK : 3 * STEPS_PER_WEEK + 150])
    out = fc.issued_every("demand", run, every_steps=96)
    assert out.index.equals(run)
    assert list(out["issued"].unique()) == [run[0], run[96]]
    np.testing.assert_array_equal(out["p50"], hist["demand"].shift(STEPS_PER_WEEK).loc[run])


def test_a_two_level_tou_price_is_learnt_exactly() -> None:
    """Many labels equal to the median once stopped LightGBM after one tree (P50 = day price)."""
    idx = index(5)
    night = (idx.hour >= 23) | (idx.hour < 7)
    hist = pd.DataFrame({"price": np.where(night, 20.78, 32.14)}, index=idx)
    q = Forecaster(hist, None, model=small_gbm).predict("price", idx[4 * STEPS_PER_WEEK], 192)
    actual = hist["price"].loc[q.index].to_numpy()
    assert m.mae(actual, q["p50"].to_numpy()) < 0.05
    assert m.coverage(actual, q["p10"].to_numpy() - 0.05, q["p90"].to_numpy() + 0.05) == 100.0
