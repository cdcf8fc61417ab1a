"""Standard load profiles (BDEW, via demandlib) on a run's planning steps."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError
from ersgrid.scenario.energy import BDEW_PROFILES

__all__ = ["bdew_energy_share", "bdew_peak_share", "bdew_power_kw"]

FloatArray = npt.NDArray[np.float64]


@lru_cache(maxsize=8)
def _year_profiles(year: int) -> pd.DataFrame:
    try:
        from demandlib import bdew
    except ModuleNotFoundError:
        raise DataError("BDEW load profiles need demandlib: pip install 'ersgrid[grid]'") from None
    # demandlib's profile builder turns every warning into an error for the whole process
    # (``warnings.simplefilter("error")``, never undone): keep that inside this call
    with warnings.catch_warnings():
        frame: pd.DataFrame = bdew.ElecSlp(year).get_profiles(*BDEW_PROFILES).astype(float)
    return frame


def bdew_energy_share(profile: str, index: pd.DatetimeIndex) -> FloatArray:
    """Share of a year's energy that falls in each 15-min step of ``index`` [-].

    The BDEW profile of each calendar year is normalised to 1 over that year (demandlib) and
    read at the local clock time of each step (German public holidays are not applied: the
    corridor's own calendar decides, and the profile keeps working days as working days).
    """
    if profile not in BDEW_PROFILES:
        raise DataError(f"unknown BDEW profile {profile!r}; known: {list(BDEW_PROFILES)}")
    local = index.tz_localize(None) if index.tz is not None else index
    out = np.empty(len(index))
    years = np.asarray(local.year)
    for year in np.unique(years):
        frame = _year_profiles(int(year))[profile]
        sel = years == year
        pos = frame.index.get_indexer(local[sel], method="ffill")
        out[sel] = frame.to_numpy()[np.maximum(pos, 0)]
    return out


def bdew_power_kw(profile: str, annual_kwh: float, index: pd.DatetimeIndex) -> FloatArray:
    """Mean power of a load with ``annual_kwh`` per year in each 15-min step [kW]."""
    return bdew_energy_share(profile, index) * annual_kwh / 0.25


def bdew_peak_share(profile: str, year: int) -> float:
    """Largest 15-min energy share of a profile in ``year`` [-] (to scale loads to a peak)."""
    return float(_year_profiles(year)[profile].max())
