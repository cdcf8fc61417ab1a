"""Time-of-use tariffs turned into price series on a time index."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.scenario.schema import Co2Spec, TariffSpec
from ersgrid.scenario.windows import TariffWindow

__all__ = ["co2_series", "price_series", "window_prices"]


def _minute_of_day(index: pd.DatetimeIndex) -> npt.NDArray[np.int64]:
    return np.asarray(index.hour * 60 + index.minute, dtype=np.int64)


def price_series(tariff: TariffSpec, index: pd.DatetimeIndex) -> pd.Series:
    """Grid energy price at each step of ``index`` (local time of the index).

    Windows may wrap past midnight (e.g. 23:00–07:00); later windows win on overlap.

    Returns
    -------
    Series [currency/kWh]
    """
    price = window_prices(tariff.base_price_per_kwh, tariff.windows, index)
    return pd.Series(price, index=index, name="price_per_kwh")


def window_prices(
    base_per_kwh: float, windows: list[TariffWindow], index: pd.DatetimeIndex
) -> npt.NDArray[np.float64]:
    """A base price with daily time windows applied at each step [currency/kWh]."""
    minute = _minute_of_day(index)
    weekday = np.asarray(index.dayofweek) < 5
    price = np.full(len(index), base_per_kwh, dtype=np.float64)
    for window in windows:
        lo = window.start.hour * 60 + window.start.minute
        hi = window.end.hour * 60 + window.end.minute
        inside = (minute >= lo) & (minute < hi) if lo < hi else (minute >= lo) | (minute < hi)
        if window.weekdays_only:
            inside &= weekday
        price[inside] = window.price_per_kwh
    return price


def co2_series(co2: Co2Spec, index: pd.DatetimeIndex) -> pd.Series:
    """CO2 intensity of grid imports at each step [kg/kWh]."""
    return pd.Series(co2.intensity_kg_per_kwh, index=index, name="co2_kg_per_kwh", dtype=float)
