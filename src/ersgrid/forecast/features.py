"""Features for forecasting a 15-min series: calendar, holidays, lags and weather forecasts.

Two kinds of input, kept apart so no feature can see the future:

* **covariates** known in advance for any step (calendar, public holidays, holiday periods,
  the weather *forecast* columns ``wxf:*`` and the day's mean forecast temperature):
  :func:`covariates`;
* **lags** of the target itself, every one at least ``min_lag_steps`` old: :func:`lag_features`.
  A forecast issued at time ``o`` for a step ``t`` with ``t - o < min_lag_steps`` steps then
  uses only values observed before ``o``. One model so serves every horizon up to
  ``min_lag_steps`` (48 h by default) — the planning horizon.
"""

from __future__ import annotations

from functools import lru_cache

import holidays as holidays_lib
import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.world.calendar import holiday_period_code

__all__ = [
    "DEFAULT_MIN_LAG_STEPS",
    "PROFILE_FEATURE",
    "STEPS_PER_DAY",
    "STEPS_PER_WEEK",
    "covariates",
    "lag_features",
    "public_holiday_mask",
]

STEPS_PER_DAY = 96
STEPS_PER_WEEK = 7 * STEPS_PER_DAY
DEFAULT_MIN_LAG_STEPS = 2 * STEPS_PER_DAY
"""Youngest lag [steps]: 48 h, the longest planning horizon."""
PROFILE_FEATURE = "profile"
"""Covariate holding a target's own known profile (``profile:<target>`` of the history)."""


@lru_cache(maxsize=32)
def _holiday_dates(country: str, years: tuple[int, ...]) -> frozenset[object]:
    return frozenset(holidays_lib.country_holidays(country, years=list(years)).keys())


def public_holiday_mask(country: str | None, dates: pd.Index) -> npt.NDArray[np.bool_]:
    """True for each date (``datetime.date``) that is a public holiday of ``country``."""
    if country is None or len(dates) == 0:
        return np.zeros(len(dates), dtype=bool)
    years = tuple(sorted({d.year for d in dates} | {min(d.year for d in dates) - 1}))
    known = _holiday_dates(country, years)
    return np.fromiter((d in known for d in dates), dtype=bool, count=len(dates))


def covariates(
    index: pd.DatetimeIndex, country: str | None, weather: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Features known in advance for every step of ``index``.

    Parameters
    ----------
    index : DatetimeIndex
        15-min steps, tz-aware (local calendar of the corridor).
    country : str or None
        ISO code for public holidays and holiday periods.
    weather : DataFrame, optional
        Weather forecast columns (``wxf:*``) on ``index``; other columns are ignored.

    Returns
    -------
    DataFrame
        ``step_of_day``, ``dayofweek``, ``off_day`` (weekend or holiday), ``holiday``,
        ``period`` (holiday-period code), ``off_prev``/``off_next`` (day before/after is off),
        ``doy_sin``/``doy_cos`` (season), the weather forecast, and, where it has
        ``wxf:temp_c``, ``temp_day_c`` [°C]: the mean forecast temperature of the step's local
        calendar day (heating and cooling loads follow the day's mean temperature, which the
        15-min value mixes with the daily cycle; a day that ``index`` covers only in part is
        averaged over the steps it has).
    """
    day = index.normalize()
    unique = pd.DatetimeIndex(day.unique())
    dates = pd.Index(unique.date)
    around = pd.Index(
        (unique - pd.Timedelta(days=1)).date.tolist()
        + (unique + pd.Timedelta(days=1)).date.tolist()
    )
    hol_all = dict(
        zip(
            list(dates) + list(around),
            np.concatenate(
                [public_holiday_mask(country, dates), public_holiday_mask(country, around)]
            ),
            strict=True,
        )
    )

    def off(d: pd.Timestamp) -> bool:
        return d.dayofweek >= 5 or bool(hol_all[d.date()])

    pos = np.asarray(unique.get_indexer(day))
    hol = np.asarray([hol_all[d] for d in dates], dtype=bool)[pos]
    off_day = np.asarray([off(d) for d in unique], dtype=bool)[pos]
    off_prev = np.asarray([off(d - pd.Timedelta(days=1)) for d in unique], dtype=bool)[pos]
    off_next = np.asarray([off(d + pd.Timedelta(days=1)) for d in unique], dtype=bool)[pos]
    doy = np.asarray(index.dayofyear, dtype=np.float64)
    out = pd.DataFrame(
        {
            "step_of_day": np.asarray(index.hour * 4 + index.minute // 15, dtype=np.int64),
            "dayofweek": np.asarray(index.dayofweek, dtype=np.int64),
            "off_day": off_day.astype(np.int64),
            "holiday": hol.astype(np.int64),
            "period": holiday_period_code(country, index),
            "off_prev": off_prev.astype(np.int64),
            "off_next": off_next.astype(np.int64),
            "doy_sin": np.sin(2 * np.pi * doy / 365.25),
            "doy_cos": np.cos(2 * np.pi * doy / 365.25),
        },
        index=index,
    )
    if weather is not None:
        wxf = [c for c in weather.columns if str(c).startswith("wxf:")]
        out = pd.concat([out, weather[wxf].reindex(index)], axis=1)
        if "wxf:temp_c" in wxf:
            out["temp_day_c"] = out["wxf:temp_c"].groupby(pos).transform("mean").to_numpy()
    return out


def lag_features(y: pd.Series, min_lag_steps: int = DEFAULT_MIN_LAG_STEPS) -> pd.DataFrame:
    """Lagged values of ``y``, none younger than ``min_lag_steps``.

    Parameters
    ----------
    y : Series
        The target on a regular 15-min index; NaN where unknown (e.g. after the issue time).
    min_lag_steps : int [steps]
        Youngest lag allowed; a forecast may reach at most this many steps ahead.

    Returns
    -------
    DataFrame
        ``lag_week`` and ``lag_2week`` (same step 7 and 14 days before), ``mean_4week`` (mean of
        the same step over the last 4 weeks), ``lag_recent`` (same step on the most recent day
        old enough), ``level_day`` and ``level_week`` (mean of the 24 h and 7 d ending
        ``min_lag_steps`` before).
    """
    if min_lag_steps < 1:
        raise ValueError("min_lag_steps must be at least 1 (a lag of 0 is the target itself)")
    recent = -(-min_lag_steps // STEPS_PER_DAY) * STEPS_PER_DAY
    weeks = [y.shift(k * STEPS_PER_WEEK) for k in range(1, 5)]
    if min_lag_steps > STEPS_PER_WEEK:
        raise ValueError(f"min_lag_steps > {STEPS_PER_WEEK}: weekly lags would see the future")
    return pd.DataFrame(
        {
            "lag_week": weeks[0],
            "lag_2week": weeks[1],
            "mean_4week": pd.concat(weeks, axis=1).mean(axis=1, skipna=True),
            "lag_recent": y.shift(recent),
            "level_day": y.rolling(STEPS_PER_DAY, min_periods=STEPS_PER_DAY // 2)
            .mean()
            .shift(min_lag_steps),
            "level_week": y.rolling(STEPS_PER_WEEK, min_periods=STEPS_PER_DAY)
            .mean()
            .shift(min_lag_steps),
        },
        index=y.index,
    )
