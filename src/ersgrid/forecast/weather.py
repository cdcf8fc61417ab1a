"""Seeded synthetic weather for generated history, and an emulated weather forecast of it.

The history generator needs weather that moves traffic and demand (rain and snow thin out car
traffic, cold and heat raise service-area load). Until a scenario carries its own weather,
ersgrid draws it from a small climate table keyed by the scenario's time zone: a seasonal and
daily temperature cycle with persistent day-to-day anomalies, and wet days from a two-state
Markov chain with monthly wet-day probabilities and gamma-distributed amounts.

A model must not see the realised weather of the future, so the features use
``wxf:`` columns: the realised weather blurred in time and with a day-level error, as a
numerical weather forecast would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["CLIMATES", "Climate", "ar1", "climate_for", "synthetic_weather"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Climate:
    """Monthly climate of a corridor.

    Attributes
    ----------
    mean_temp_c : float [°C]
        Annual mean air temperature.
    annual_amplitude_c : float [°C]
        Half the difference between the warmest and the coldest month.
    coldest_day_of_year : int [d]
    diurnal_amplitude_c : float [°C]
        Half the daily temperature range.
    anomaly_std_c : float [°C]
        Standard deviation of the day-to-day temperature anomaly (AR(1), φ = 0.75).
    wet_day_probability : tuple of 12 floats [-]
        Chance that a day of each month is wet (≥ 1 mm).
    wet_day_mm : tuple of 12 floats [mm/d]
        Mean precipitation of a wet day in each month.
    """

    mean_temp_c: float
    annual_amplitude_c: float
    coldest_day_of_year: int
    diurnal_amplitude_c: float
    anomaly_std_c: float
    wet_day_probability: tuple[float, ...]
    wet_day_mm: tuple[float, ...]


# Shizuoka (JMA normals, rounded [U]): ~16.9 °C mean, ~2,300 mm/yr with the rainy season in
# June–July and typhoons in September. Örebro (SMHI normals, rounded [U]): ~6.5 °C, ~650 mm/yr.
CLIMATES: dict[str, Climate] = {
    "Asia/Tokyo": Climate(
        16.9, 10.5, 20, 4.0, 2.0,
        (0.20, 0.28, 0.38, 0.38, 0.38, 0.50, 0.45, 0.35, 0.45, 0.35, 0.30, 0.20),
        (7.0, 10.0, 14.0, 15.0, 14.0, 20.0, 18.0, 16.0, 22.0, 16.0, 12.0, 8.0),
    ),
    "Europe/Stockholm": Climate(
        6.5, 10.5, 25, 3.5, 3.0,
        (0.45, 0.40, 0.38, 0.35, 0.35, 0.38, 0.40, 0.42, 0.42, 0.45, 0.48, 0.48),
        (3.5, 3.2, 3.0, 3.4, 4.0, 5.5, 6.5, 6.5, 5.5, 5.5, 4.5, 4.2),
    ),
}  # fmt: skip

_TEMPERATE = Climate(
    10.0, 8.0, 20, 4.0, 2.5, (0.4,) * 12, (5.0,) * 12
)  # fallback for zones not in the table


def climate_for(timezone: str) -> Climate:
    """Climate of the table for ``timezone``; a temperate default for zones not listed."""
    return CLIMATES.get(timezone, _TEMPERATE)


def ar1(rng: np.random.Generator, n: int, phi: float, std: float) -> FloatArray:
    """Stationary AR(1) series of ``n`` values, coefficient ``phi``, marginal std ``std``."""
    out = np.empty(n)
    innov = rng.normal(0.0, std * np.sqrt(1.0 - phi * phi), n)
    out[0] = rng.normal(0.0, std)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + innov[i]
    return out


def synthetic_weather(
    timezone: str, index: pd.DatetimeIndex, rng: np.random.Generator
) -> pd.DataFrame:
    """Realised weather and an emulated forecast of it at each step of ``index``.

    Parameters
    ----------
    timezone : str
        IANA zone of the corridor (picks the climate).
    index : DatetimeIndex
        Regular 15-min steps, tz-aware.
    rng : numpy Generator
        Seeded generator.

    Returns
    -------
    DataFrame
        ``wx:temp_c`` [°C], ``wx:precip_mm_h`` [mm/h] (realised) and ``wxf:temp_c``,
        ``wxf:precip_mm_h``, ``wxf:precip_mm_day`` [mm/d] (forecast as known a day or two ahead).
    """
    c = climate_for(timezone)
    days = pd.DatetimeIndex(index.normalize().unique())
    n_days = len(days)
    day_of = np.asarray(pd.Index(days).get_indexer(index.normalize()))
    doy = np.asarray(days.dayofyear, dtype=np.float64)
    month = np.asarray(days.month) - 1

    seasonal = c.mean_temp_c - c.annual_amplitude_c * np.cos(
        2 * np.pi * (doy - c.coldest_day_of_year) / 365.25
    )
    anomaly = ar1(rng, n_days, 0.75, c.anomaly_std_c)
    hour = np.asarray(index.hour + index.minute / 60.0)
    temp = (seasonal + anomaly)[day_of] - c.diurnal_amplitude_c * np.cos(
        2 * np.pi * (hour - 3.0) / 24.0
    )

    p = np.asarray(c.wet_day_probability)[month]
    wet = np.zeros(n_days, dtype=bool)
    wet[0] = rng.random() < p[0]
    u = rng.random(n_days)
    for i in range(1, n_days):  # P(wet|wet) = p + 0.3 (1 - p), P(wet|dry) = 0.7 p: stationary p
        wet[i] = u[i] < (p[i] + 0.3 * (1 - p[i]) if wet[i - 1] else 0.7 * p[i])
    mean_mm = np.asarray(c.wet_day_mm)[month]
    amount = np.where(wet, rng.gamma(0.8, mean_mm / 0.8), 0.0)
    # each wet day rains in one spell of 3–18 h starting at a random hour
    start_h = rng.uniform(0.0, 24.0, n_days)
    length_h = rng.uniform(3.0, 18.0, n_days)
    rel = (hour - start_h[day_of]) % 24.0
    in_spell = rel < length_h[day_of]
    precip = np.where(in_spell, amount[day_of] / length_h[day_of], 0.0)
    precip *= rng.lognormal(0.0, 0.4, len(index))

    # the forecast: day-level temperature error, rain smoothed over ±3 h and scaled by a
    # day-level factor (amount errors), with 8 % of wet days missed entirely
    temp_err = rng.normal(0.0, 1.2, n_days)
    rain_scale = rng.lognormal(0.0, 0.35, n_days) * (rng.random(n_days) > 0.08)
    smooth = pd.Series(precip).rolling(25, center=True, min_periods=1).mean().to_numpy()
    precip_f = smooth * rain_scale[day_of]
    steps_per_day = pd.Series(precip_f).groupby(day_of).transform("sum").to_numpy()
    step_h = (index[1] - index[0]).total_seconds() / 3600.0 if len(index) > 1 else 0.25
    return pd.DataFrame(
        {
            "wx:temp_c": temp,
            "wx:precip_mm_h": precip,
            "wxf:temp_c": temp + temp_err[day_of],
            "wxf:precip_mm_h": precip_f,
            "wxf:precip_mm_day": steps_per_day * step_h,
        },
        index=index,
    )
