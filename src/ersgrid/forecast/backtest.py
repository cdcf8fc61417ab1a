"""Rolling-origin backtests of a model against the seasonal-naive baseline.

Forecasts are issued at every origin of the held-out period (daily at midnight by default),
each for the planning horizon (48 h). Both the model and the baseline are asked through a
:class:`~ersgrid.forecast.forecaster.Forecaster`, which fits on the data before the origin
only and re-fits as the origin moves on (weekly by default). Metrics pool every (origin, step)
pair whose step lies inside the held-out period.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ersgrid.errors import DataError
from ersgrid.forecast.features import DEFAULT_MIN_LAG_STEPS, STEPS_PER_DAY
from ersgrid.forecast.forecaster import Forecaster, ModelSpec
from ersgrid.forecast.metrics import metrics, skill
from ersgrid.forecast.models import SeasonalNaive

__all__ = ["RENEWABLE_TARGETS", "BacktestResult", "backtest", "origins"]

RENEWABLE_TARGETS = ("pv", "wind", "renewable")
"""Targets whose nMAE is normalised by capacity (the rest by their mean)."""


@dataclass(frozen=True)
class BacktestResult:
    """Forecasts and scores of one backtest.

    Attributes
    ----------
    target : str
    model : str
        Name of the model tested.
    forecasts : DataFrame
        One row per (origin, step): ``origin``, ``time``, ``lead_steps``, ``actual``, ``p10``,
        ``p50``, ``p90`` (model) and ``naive``, ``naive_p10``, ``naive_p90`` (seasonal naive).
    scores : dict
        ``model`` and ``seasonal_naive`` metric dicts, plus ``skill`` and, per lead block
        (``0-24h``, ``24-48h``), the model's MAE, skill and coverage.
    fits : int
        Number of model fits over the backtest.
    """

    target: str
    model: str
    forecasts: pd.DataFrame
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    fits: int = 0


def origins(
    index: pd.DatetimeIndex, days: int, every_steps: int = STEPS_PER_DAY
) -> pd.DatetimeIndex:
    """Issue times of a backtest over the last ``days`` whole days of ``index``."""
    last_day = index[-1].normalize()
    first = last_day - pd.Timedelta(days=days - 1)
    if first < index[0] + pd.Timedelta(days=28):
        raise DataError(
            f"a backtest of {days} days needs at least 4 weeks of history before it; the "
            f"history covers only {index[-1] - index[0]}"
        )
    return pd.date_range(first, last_day, freq=pd.Timedelta(minutes=15 * every_steps))


def backtest(
    history: pd.DataFrame,
    target: str,
    country: str | None,
    days: int = 28,
    model: ModelSpec = "gbm",
    horizon_steps: int = DEFAULT_MIN_LAG_STEPS,
    refit_every_days: int = 7,
    capacity: float | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of ``model`` on the last ``days`` days of ``history``.

    Parameters
    ----------
    history : DataFrame
        As for :class:`Forecaster`.
    target : str
        Column to forecast.
    country : str or None
        Holiday calendar.
    days : int [d]
        Held-out days at the end of the history; one origin at each midnight.
    model : str or callable
        Model under test (see :func:`~ersgrid.forecast.models.make_model`).
    horizon_steps : int [steps]
        Steps forecast from each origin (192 = 48 h).
    refit_every_days : int [d]
        Re-fit cadence as the origin moves on.
    capacity : float, optional
        Capacity for nMAE (PV, wind); the largest value of the history by default.
    """
    if target not in history.columns:
        raise DataError(f"the history has no target {target!r}; it has {list(history.columns)}")
    y = history[target]
    if y.notna().sum() == 0 or np.nanmax(np.abs(y.to_numpy(dtype=np.float64))) == 0.0:
        raise DataError(
            f"target {target!r} is zero or missing throughout the history: nothing to forecast "
            "(does the scenario have this kind of load or generation?)"
        )
    refit = pd.Timedelta(days=refit_every_days)
    fc = Forecaster(history, country, model=model, refit_every=refit)
    naive = Forecaster(history, country, model=SeasonalNaive, refit_every=refit)
    issue = origins(pd.DatetimeIndex(history.index), days)
    end = issue[-1] + pd.Timedelta(days=1)
    rows = []
    for origin in issue:
        q = fc.predict(target, origin, horizon_steps)
        n = naive.predict(target, origin, horizon_steps)
        part = q.assign(
            naive=n["p50"],
            naive_p10=n["p10"],
            naive_p90=n["p90"],
            actual=y.reindex(q.index),
            origin=origin,
        )
        part["lead_steps"] = np.arange(len(q))
        rows.append(part[part.index < end])
    frame = pd.concat(rows).rename_axis("time").reset_index()
    cap = capacity
    if cap is None:
        cap = float(np.nanmax(np.abs(y.to_numpy(dtype=np.float64))))
        if target not in RENEWABLE_TARGETS:
            cap = float(np.nanmean(np.abs(y.to_numpy(dtype=np.float64))))
    a = frame["actual"].to_numpy(dtype=np.float64)
    model_scores = metrics(a, frame["p10"], frame["p50"], frame["p90"], capacity=cap)
    nv = frame["naive"].to_numpy(dtype=np.float64)
    naive_scores = metrics(a, frame["naive_p10"], nv, frame["naive_p90"], capacity=cap)
    scores: dict[str, dict[str, float]] = {
        "model": model_scores,
        "seasonal_naive": naive_scores,
        "skill": {"all": skill(model_scores["mae"], naive_scores["mae"])},
    }
    for label, lo, hi in (
        ("0-24h", 0, STEPS_PER_DAY),
        ("24-48h", STEPS_PER_DAY, 2 * STEPS_PER_DAY),
    ):
        sel = (frame["lead_steps"] >= lo) & (frame["lead_steps"] < hi)
        if sel.any():
            part = frame[sel]
            m = metrics(part["actual"], part["p10"], part["p50"], part["p90"], capacity=cap)
            b = metrics(part["actual"], part["naive"], part["naive"], part["naive"])
            scores[label] = {
                "mae": m["mae"],
                "wape_pct": m["wape_pct"],
                "coverage_pct": m["coverage_pct"],
                "skill": skill(m["mae"], b["mae"]),
            }
    name = model if isinstance(model, str) else getattr(model, "name", "custom")
    return BacktestResult(target, str(name), frame, scores, fits=fc.fits)
