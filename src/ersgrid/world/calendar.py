"""Calendar of a corridor: public holidays and the holiday *periods* that move traffic.

:class:`Calendar` is the calendar of a run's steps as the world holds it: weekday, public
holiday, off day (weekend or public holiday) and holiday-period code of every step.

Public holidays come from the ``holidays`` package (the scenario's
``traffic.holidays_country``). Traffic on trunk roads also follows longer periods that are not
all public holidays: Japan's Golden Week, Obon and the New Year break, Sweden's midsummer,
the July industrial holiday and Christmas. Each period has a code (0 = none) used both by the
history generator (to move the volume) and by the forecasting features (so a model can learn
what the period does from the history).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import holidays as holidays_lib
import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "HOLIDAY_PERIODS",
    "Calendar",
    "HolidayPeriod",
    "build_calendar",
    "holiday_mask",
    "holiday_period_code",
    "period_of",
]


@dataclass(frozen=True)
class HolidayPeriod:
    """A recurring period of the year with its own traffic.

    Attributes
    ----------
    code : int
        Feature code (> 0), unique across countries.
    name : str
    car_factor : float [-]
        Multiplier of the daily car (and bus) volume on the period's days.
    truck_factor : float [-]
        Multiplier of the daily truck volume (freight pauses in most holiday periods).
    leisure_shape : bool
        Cars follow the weekend diurnal shape on these days even if they are working days.
    """

    code: int
    name: str
    car_factor: float
    truck_factor: float
    leisure_shape: bool


# Factors are our estimates [U] from the published pattern of NEXCO and Trafikverket counts:
# Golden Week and Obon bring the year's heaviest leisure traffic (NEXCO publishes congestion
# forecasts for both every year) while freight falls; New Year is the quietest week for freight.
HOLIDAY_PERIODS: dict[str, tuple[HolidayPeriod, ...]] = {
    "JP": (
        HolidayPeriod(1, "Golden Week (29 Apr – 5 May)", 1.25, 0.65, True),
        HolidayPeriod(2, "Obon (13 – 16 Aug)", 1.30, 0.60, True),
        HolidayPeriod(3, "New Year (29 Dec – 3 Jan)", 1.15, 0.40, True),
    ),
    "SE": (
        HolidayPeriod(4, "Midsummer (19 – 26 Jun)", 1.15, 0.75, True),
        HolidayPeriod(5, "Industrial holiday (weeks 28 – 31)", 1.10, 0.75, False),
        HolidayPeriod(6, "Christmas – New Year (23 Dec – 1 Jan)", 1.05, 0.45, True),
    ),
}


def period_of(country: str | None, day: dt.date) -> HolidayPeriod | None:
    """The holiday period ``day`` falls in, or None.

    Parameters
    ----------
    country : str or None
        ISO country code (``JP``, ``SE``); other countries get the Christmas – New Year period.
    day : date
        Local date.
    """
    md = (day.month, day.day)
    if country == "JP":
        gw, obon, newyear = HOLIDAY_PERIODS["JP"]
        if (4, 29) <= md <= (5, 5):
            return gw
        if (8, 13) <= md <= (8, 16):
            return obon
        if md >= (12, 29) or md <= (1, 3):
            return newyear
        return None
    if country == "SE":
        midsummer, industrial, christmas = HOLIDAY_PERIODS["SE"]
        if (6, 19) <= md <= (6, 26):
            return midsummer
        if 28 <= day.isocalendar().week <= 31:
            return industrial
        if md >= (12, 23) or md <= (1, 1):
            return christmas
        return None
    if country is not None and (md >= (12, 24) or md <= (1, 1)):
        return HOLIDAY_PERIODS["SE"][2]
    return None


def holiday_period_code(country: str | None, index: pd.DatetimeIndex) -> npt.NDArray[np.int64]:
    """Code of the holiday period of each step (0 outside any period)."""
    days = pd.Index(index.date)
    unique = days.unique()
    codes = {d: (p.code if (p := period_of(country, d)) else 0) for d in unique}
    return np.fromiter((codes[d] for d in days), dtype=np.int64, count=len(days))


@lru_cache(maxsize=32)
def _holiday_dates(country: str, years: tuple[int, ...]) -> frozenset[object]:
    return frozenset(holidays_lib.country_holidays(country, years=list(years)).keys())


def holiday_mask(country: str | None, index: pd.DatetimeIndex) -> npt.NDArray[np.bool_]:
    """True at steps that fall on a public holiday of ``country`` (ISO code; None: none)."""
    if country is None:
        return np.zeros(len(index), dtype=bool)
    dates = _holiday_dates(country, tuple(sorted(set(index.year))))
    return np.fromiter((d in dates for d in index.date), dtype=bool, count=len(index))


@dataclass(frozen=True)
class Calendar:
    """The calendar of a run's steps.

    Attributes
    ----------
    country : str or None
        ISO code of the public holidays (``traffic.holidays_country``).
    weekday : ndarray of int
        0 Monday .. 6 Sunday, local.
    holiday : ndarray of bool
        Public holiday.
    off_day : ndarray of bool
        Weekend or public holiday (traffic takes the weekend shape).
    period_code : ndarray of int
        Holiday period (:data:`HOLIDAY_PERIODS`), 0 outside any.
    """

    country: str | None
    weekday: npt.NDArray[np.int64]
    holiday: npt.NDArray[np.bool_]
    off_day: npt.NDArray[np.bool_]
    period_code: npt.NDArray[np.int64]


def build_calendar(country: str | None, index: pd.DatetimeIndex) -> Calendar:
    """The calendar of ``index`` (tz-aware local steps) for ``country``'s holidays."""
    weekday = np.asarray(index.dayofweek, dtype=np.int64)
    holiday = holiday_mask(country, index)
    return Calendar(
        country=country,
        weekday=weekday,
        holiday=holiday,
        off_day=(weekday >= 5) | holiday,
        period_code=holiday_period_code(country, index),
    )
