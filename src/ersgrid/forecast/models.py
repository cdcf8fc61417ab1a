"""Forecasting models of one target: the interface, seasonal naive and gradient boosting.

A model learns from a target series and the covariates known in advance (calendar, holidays,
weather forecast; see :func:`ersgrid.forecast.features.covariates`) and returns P10, P50 and P90
for future steps. To plug in your own, subclass :class:`TargetModel` and pass
``model="package.module:ClassName"`` to :class:`~ersgrid.forecast.forecaster.Forecaster` or to
``ersgrid forecast backtest --model``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError, ErsgridError
from ersgrid.forecast.features import (
    DEFAULT_MIN_LAG_STEPS,
    PROFILE_FEATURE,
    STEPS_PER_DAY,
    STEPS_PER_WEEK,
    lag_features,
)
from ersgrid.plugins import load_subclass

__all__ = [
    "QUANTILES",
    "QUANTILE_COLUMNS",
    "GradientBoosting",
    "SeasonalNaive",
    "TargetModel",
    "make_model",
]

QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)
QUANTILE_COLUMNS: tuple[str, str, str] = ("p10", "p50", "p90")
FloatArray = npt.NDArray[np.float64]
_LOOKBACK = pd.Timedelta(weeks=5)


class TargetModel(ABC):
    """A probabilistic forecaster of one 15-min series.

    The caller guarantees that ``y_known`` in :meth:`predict` holds no value at or after the
    issue time, and that the steps asked for lie within :attr:`max_horizon_steps` of it.
    """

    name: ClassVar[str] = "model"
    max_horizon_steps: int = DEFAULT_MIN_LAG_STEPS
    """Longest horizon the model serves without seeing the future [steps]."""

    @abstractmethod
    def fit(self, y: pd.Series, covariates: pd.DataFrame) -> None:
        """Learn from the target ``y`` and the covariates on the same index."""

    @abstractmethod
    def predict(
        self, y_known: pd.Series, covariates: pd.DataFrame, index: pd.DatetimeIndex
    ) -> pd.DataFrame:
        """P10, P50, P90 at the steps of ``index``.

        Parameters
        ----------
        y_known : Series
            The target up to (not including) the issue time.
        covariates : DataFrame
            Known-in-advance features on ``index``.
        index : DatetimeIndex
            The steps to forecast.

        Returns
        -------
        DataFrame
            Columns ``p10``, ``p50``, ``p90`` on ``index``, in the target's unit.
        """


def _extend(y_known: pd.Series, index: pd.DatetimeIndex) -> pd.Series:
    """The last five weeks of ``y_known`` (all any lag reaches), continued with NaN over
    ``index`` on one regular grid."""
    step = pd.Timedelta(minutes=15)
    if len(y_known) == 0:
        raise DataError("no history before the issue time: a forecast needs past values")
    first = max(y_known.index[0], index[0] - _LOOKBACK)
    full = pd.date_range(first, index[-1], freq=step)
    return y_known.reindex(full)


def _finish(q: FloatArray, nonnegative: bool, index: pd.DatetimeIndex) -> pd.DataFrame:
    q = q.copy()  # quantiles never cross; P50 stays as the model made it
    q[:, 0] = np.minimum(q[:, 0], q[:, 1])
    q[:, 2] = np.maximum(q[:, 2], q[:, 1])
    if nonnegative:
        q = np.maximum(q, 0.0)
    return pd.DataFrame(q, index=index, columns=list(QUANTILE_COLUMNS))


class SeasonalNaive(TargetModel):
    """Same step last week; P10/P90 from the training residuals of that rule.

    The baseline every model is measured against (skill = 1 − MAE_model / MAE_naive).
    """

    name: ClassVar[str] = "seasonal-naive"
    max_horizon_steps: int = STEPS_PER_WEEK

    def __init__(self, season_steps: int = STEPS_PER_WEEK) -> None:
        self.season_steps = season_steps
        self.max_horizon_steps = season_steps
        self._spread = np.zeros(3)
        self._nonnegative = True

    def fit(self, y: pd.Series, covariates: pd.DataFrame) -> None:
        resid = (y - y.shift(self.season_steps)).dropna().to_numpy()
        if len(resid):
            self._spread = np.quantile(resid, QUANTILES)
            self._spread[1] = 0.0
        self._nonnegative = bool((y.dropna() >= 0).all())

    def predict(
        self, y_known: pd.Series, covariates: pd.DataFrame, index: pd.DatetimeIndex
    ) -> pd.DataFrame:
        y = _extend(y_known, index)
        point = y.shift(self.season_steps).reindex(index).to_numpy()
        return _finish(point[:, None] + self._spread[None, :], self._nonnegative, index)


Backend = Literal["lightgbm", "sklearn"]


def _one_thread() -> Any:
    """Limit OpenMP (scikit-learn's trees) to one thread; LightGBM gets ``num_threads=1``."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


class GradientBoosting(TargetModel):
    """Gradient-boosted trees on calendar, holiday, lagged and weather features, one per quantile.

    Parameters
    ----------
    backend : "lightgbm" or "sklearn"
        LightGBM (default) or scikit-learn's HistGradientBoostingRegressor.
    n_estimators : int
        Trees per quantile.
    learning_rate : float
    min_lag_steps : int [steps]
        Youngest lag used, so also the longest horizon served (48 h by default).
    calibration_days : int [d]
        The last days of the training data held out to calibrate the P10–P90 band
        (conformalised quantile regression: each bound is moved by the 90 % quantile of its
        out-of-sample miss, so the band covers about 80 % of new values); 0 turns it off.
        Quantile trees fitted on all data are over-confident out of sample otherwise.
    relative_to_profile : bool
        Where the covariates carry the target's own known profile (``profile``, e.g. the
        standard load profile of a demand) and it is positive wherever the target is known,
        learn the target relative to it (``y / profile``: trees, lags and calibration on the
        ratio) and scale the quantiles back by the profile of the forecast steps. The
        deviations of a load from its standard profile (weather, day effects, metering) are
        multiplicative, so a ratio is one function of the weather at every step of the day,
        where the level would need a profile × weather interaction learnt tree by tree.
        Targets without a profile (traffic, PV) are learnt as they are. Such a model's
        quantiles are NaN at forecast steps where the profile is unknown.
    """

    name: ClassVar[str] = "gradient-boosting"

    def __init__(
        self,
        backend: Backend = "lightgbm",
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        min_lag_steps: int = DEFAULT_MIN_LAG_STEPS,
        calibration_days: int = 14,
        relative_to_profile: bool = True,
    ) -> None:
        self.backend = backend
        self.calibration_days = calibration_days
        self.relative_to_profile = relative_to_profile
        self._relative = False
        self._shift = np.zeros(3)
        self._center = 0.0
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.min_lag_steps = min_lag_steps
        self.max_horizon_steps = min_lag_steps
        self._models: list[Any] = []
        self._columns: list[str] = []
        self._nonnegative = True

    def _estimator(self, alpha: float) -> Any:
        if self.backend == "lightgbm":
            import lightgbm

            return lightgbm.LGBMRegressor(
                objective="quantile",
                alpha=alpha,
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=31,
                min_child_samples=40,
                subsample=0.8,
                subsample_freq=1,
                colsample_bytree=0.9,
                num_threads=1,  # several threads can stall on shared machines
                # start from the centred mean, not from the alpha-quantile of the labels: when
                # many labels equal that quantile (a TOU price, PV at night) every gradient is
                # equal and LightGBM stops after one tree
                boost_from_average=False,
                verbose=-1,
                random_state=0,
            )
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(
            loss="quantile",
            quantile=alpha,
            max_iter=self.n_estimators,
            learning_rate=self.learning_rate,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            random_state=0,
        )

    def _design(self, y: pd.Series, covariates: pd.DataFrame) -> pd.DataFrame:
        lags = lag_features(y, self.min_lag_steps)
        return pd.concat([covariates.reindex(y.index), lags], axis=1)

    def _profile(self, covariates: pd.DataFrame, index: pd.DatetimeIndex) -> FloatArray:
        """The target's known profile on ``index`` (NaN where the covariates lack it)."""
        out: FloatArray = (
            covariates[PROFILE_FEATURE].reindex(index).to_numpy(dtype=np.float64)
            if PROFILE_FEATURE in covariates.columns
            else np.full(len(index), np.nan)
        )
        return out

    def fit(self, y: pd.Series, covariates: pd.DataFrame) -> None:
        profile = self._profile(covariates, pd.DatetimeIndex(y.index))
        known = y.notna().to_numpy()
        self._relative = (
            self.relative_to_profile
            and PROFILE_FEATURE in covariates.columns
            and bool(np.all(profile[known] > 0.0))  # False on NaN: unknown somewhere
        )
        if self._relative:
            y = y / profile
        x = self._design(y, covariates)
        keep = y.notna().to_numpy() & x["lag_week"].notna().to_numpy()
        if keep.sum() < 2 * STEPS_PER_WEEK:
            raise DataError(
                f"{y.name}: only {int(keep.sum())} usable steps of history; gradient boosting "
                "needs at least three weeks (the lags reach back up to four)"
            )
        self._columns = list(x.columns)
        self._nonnegative = bool((y.dropna() >= 0).all())
        xs, ys = x.to_numpy(dtype=np.float64)[keep], y.to_numpy(dtype=np.float64)[keep]
        self._center = float(np.mean(ys))
        n_cal = self.calibration_days * STEPS_PER_DAY
        fit_rows = len(ys)
        if n_cal > 0 and len(ys) - n_cal >= 3 * STEPS_PER_WEEK:
            fit_rows = len(ys) - n_cal
        self._models = []
        with _one_thread():
            for alpha in QUANTILES:
                est = self._estimator(alpha)
                rows = len(ys) if alpha == 0.5 else fit_rows  # the median learns from every row
                est.fit(xs[:rows], ys[:rows] - self._center)
                self._models.append(est)
        self._shift = np.zeros(3)
        if fit_rows < len(ys):
            xc, yc = xs[fit_rows:], ys[fit_rows:]
            lower = self._models[0].predict(xc) + self._center
            upper = self._models[2].predict(xc) + self._center
            self._shift[0] = -float(np.quantile(lower - yc, 1.0 - QUANTILES[0]))
            self._shift[2] = float(np.quantile(yc - upper, QUANTILES[2]))

    def predict(
        self, y_known: pd.Series, covariates: pd.DataFrame, index: pd.DatetimeIndex
    ) -> pd.DataFrame:
        if not self._models:
            raise ErsgridError("GradientBoosting.predict before fit: call fit first")
        if self._relative:
            y_known = y_known / self._profile(covariates, pd.DatetimeIndex(y_known.index))
        y = _extend(y_known, index)
        x = self._design(y, covariates.reindex(y.index)).reindex(index)[self._columns]
        return _finish(self.predict_matrix(x), self._nonnegative, index)

    def predict_matrix(self, x: pd.DataFrame) -> FloatArray:
        """Raw P10, P50, P90 (calibrated, before the non-crossing rule) for a design matrix.

        Parameters
        ----------
        x : DataFrame
            Features as built by the model (covariates and lags), one row per step.

        Returns
        -------
        ndarray, shape (rows, 3)
            In the target's unit (a model learnt relative to the profile scales its ratios
            by the ``profile`` column of ``x``).
        """
        xs = x[self._columns].to_numpy(dtype=np.float64)
        with _one_thread():
            q = np.column_stack([m.predict(xs) for m in self._models])
        out: FloatArray = q + self._center + self._shift[None, :]
        if self._relative:
            out = out * x[PROFILE_FEATURE].to_numpy(dtype=np.float64)[:, None]
        return out


def make_model(spec: str) -> TargetModel:
    """A model from a name: ``gbm`` (LightGBM), ``hgb`` (scikit-learn), ``naive``, or
    ``package.module:ClassName`` (a :class:`TargetModel` subclass built with no arguments)."""
    if spec in ("gbm", "lightgbm"):
        return GradientBoosting("lightgbm")
    if spec in ("hgb", "sklearn"):
        return GradientBoosting("sklearn")
    if spec in ("naive", "seasonal-naive"):
        return SeasonalNaive()
    if ":" in spec:
        model: TargetModel = load_subclass(spec, TargetModel, "model", ErsgridError)()
        return model
    raise ErsgridError(f"unknown model {spec!r}: use gbm, hgb, naive or package.module:ClassName")
