"""One weather per corridor: the same rain, temperature, cloud and wind for every consumer.

PV and wind output, the other loads' heating and cooling, and the traffic (rain thins car
traffic, snow all traffic) all read the one :class:`Weather` of a run, so a stormy day for the
drivers is a dull day for the panels.

A weather is drawn (or read) one calendar year at a time, each year from its own seed
``(seed, year)``, and kept for the process: a day's weather depends on neither the start nor
the length of the window asked for, and a run and the history its forecasts learn from see the
same weather on the same day (:func:`weather_builds` counts how many years were built).

Sources (``weather.source``):

- ``clear_sky``: pvlib's Ineichen clear sky at the corridor's coordinates, dimmed by a
  stochastic cloud cover with the Kasten-Czeplak relation ``ghi = ghi_clear (1 - 0.75 C^3.4)``.
  The cloud cover is an AR(1) process through a normal CDF whose mean is ``cloud_cover_mean``
  and which thickens on wet days and under rain; rain falls on wet days of a two-state Markov
  chain with the climate's monthly wet-day probabilities, in one spell of 3-18 h of a
  gamma-distributed amount; the temperature is a seasonal and daily cosine with a persistent
  day-to-day anomaly (AR(1)), a little cooler under rain; wind is a Weibull (k = 2) AR(1).
- ``pvlib_tmy`` / ``dwd_try``: a typical year shipped with pvlib (a US TMY3 station) or with
  demandlib (a German test reference year), mapped onto the corridor's calendar by clock time.
  Irradiance, temperature, wind and pressure are the file's. The files carry no usable rain, so
  rain falls on the file's dullest days: in each month the days of lowest clearness (daily
  irradiance over the clear sky's), as many as the climate's wet-day probability gives.
- No weather section: ``clear_sky`` at the climate table's coordinates for the time zone.

A model must not see the realised weather of the future, so each weather also carries an
emulated day-ahead forecast of itself (:class:`WeatherForecast`): temperature with a day-level
error, rain smoothed over +-3 h and scaled by a day-level factor with 8 % of wet days missed,
irradiance and wind with day-level errors of about 20 % and 15 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import brentq
from scipy.signal import lfilter
from scipy.special import ndtr

from ersgrid.data.weather import on_index, package_file, read_dwd_try, read_tmy
from ersgrid.errors import DataError
from ersgrid.scenario.energy import WeatherSpec
from ersgrid.scenario.schema import Scenario

__all__ = [
    "CLIMATES",
    "WIND_HEIGHT_M",
    "Climate",
    "Weather",
    "WeatherForecast",
    "ar1",
    "climate_for",
    "scenario_weather",
    "weather_builds",
    "weather_spec",
]

FloatArray = npt.NDArray[np.float64]

WIND_HEIGHT_M = 10.0
"""Height of the wind speed of every source [m]."""


@dataclass(frozen=True)
class Climate:
    """Monthly climate of a corridor: what drives temperature anomalies and rain.

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
        Chance that a day of each month is wet (>= 1 mm).
    wet_day_mm : tuple of 12 floats [mm/d]
        Mean precipitation of a wet day in each month.
    latitude_deg, longitude_deg : float [deg]
        A representative place, for the sun when the scenario names no weather.
    place : str
    """

    mean_temp_c: float
    annual_amplitude_c: float
    coldest_day_of_year: int
    diurnal_amplitude_c: float
    anomaly_std_c: float
    wet_day_probability: tuple[float, ...]
    wet_day_mm: tuple[float, ...]
    latitude_deg: float
    longitude_deg: float
    place: str


# Shizuoka (JMA normals, rounded [U]): ~16.9 °C mean, ~2,300 mm/yr with the rainy season in
# June-July and typhoons in September. Örebro (SMHI normals, rounded [U]): ~6.5 °C, ~650 mm/yr.
# Urumqi (CMA normals, rounded [U]): ~7 °C mean, continental (-12 °C January, 24 °C July),
# ~290 mm/yr, mostly in spring and summer.
CLIMATES: dict[str, Climate] = {
    "Asia/Tokyo": Climate(
        16.9, 10.5, 20, 4.0, 2.0,
        (0.20, 0.28, 0.38, 0.38, 0.38, 0.50, 0.45, 0.35, 0.45, 0.35, 0.30, 0.20),
        (7.0, 10.0, 14.0, 15.0, 14.0, 20.0, 18.0, 16.0, 22.0, 16.0, 12.0, 8.0),
        34.97, 138.38, "Shizuoka",
    ),
    "Europe/Stockholm": Climate(
        6.5, 10.5, 25, 3.5, 3.0,
        (0.45, 0.40, 0.38, 0.35, 0.35, 0.38, 0.40, 0.42, 0.42, 0.45, 0.48, 0.48),
        (3.5, 3.2, 3.0, 3.4, 4.0, 5.5, 6.5, 6.5, 5.5, 5.5, 4.5, 4.2),
        59.27, 15.21, "Örebro",
    ),
    "Asia/Shanghai": Climate(
        7.0, 18.0, 20, 6.0, 3.0,
        (0.12, 0.12, 0.15, 0.20, 0.22, 0.22, 0.22, 0.20, 0.15, 0.12, 0.12, 0.12),
        (3.0, 3.0, 4.0, 5.5, 6.0, 6.5, 6.5, 6.0, 5.0, 4.0, 3.0, 3.0),
        43.80, 87.60, "Urumqi",
    ),
}  # fmt: skip

_TEMPERATE = Climate(
    10.0, 8.0, 20, 4.0, 2.5, (0.4,) * 12, (5.0,) * 12, 45.0, 0.0, "a temperate default"
)  # fallback for zones not in the table


def climate_for(timezone: str) -> Climate:
    """Climate of the table for ``timezone``; a temperate default for zones not listed."""
    return CLIMATES.get(timezone, _TEMPERATE)


def weather_spec(scenario: Scenario) -> WeatherSpec:
    """The scenario's weather section, or clear sky at its climate's place when it has none."""
    if scenario.weather is not None:
        return scenario.weather
    c = climate_for(scenario.timezone)
    return WeatherSpec(
        source="clear_sky",
        latitude_deg=c.latitude_deg,
        longitude_deg=c.longitude_deg,
        temperature_mean_c=c.mean_temp_c,
        temperature_seasonal_c=c.annual_amplitude_c,
        note=f"no weather section: clear sky at {c.place} ({scenario.timezone}'s climate)",
    )


@dataclass(frozen=True)
class WeatherForecast:
    """An emulated day-ahead forecast of a weather, as known a day or two ahead.

    Attributes
    ----------
    temp_air_c : ndarray [°C]
    precip_mm_h : ndarray [mm/h]
    precip_mm_day : ndarray [mm/d]
        Forecast rain of the step's local day.
    ghi_w_m2 : ndarray [W/m²]
    wind_speed_ms : ndarray [m/s]
    """

    temp_air_c: FloatArray
    precip_mm_h: FloatArray
    precip_mm_day: FloatArray
    ghi_w_m2: FloatArray
    wind_speed_ms: FloatArray


@dataclass(frozen=True)
class Weather:
    """The weather of a corridor on a time index.

    Attributes
    ----------
    index : DatetimeIndex
        tz-aware planning steps.
    ghi_w_m2 : ndarray [W/m²]
        Global horizontal irradiance, mean over the step.
    temp_air_c : ndarray [°C]
    wind_speed_ms : ndarray [m/s]
        Wind speed at :data:`WIND_HEIGHT_M`.
    pressure_pa : ndarray [Pa]
    precip_mm_h : ndarray [mm/h]
        Rain (or snow, water equivalent) rate.
    cloud_cover : ndarray [-]
        0 clear, 1 overcast.
    forecast : WeatherForecast
        What a day-ahead weather forecast would have said.
    description : str
        Where the data come from, stated honestly.
    """

    index: pd.DatetimeIndex
    ghi_w_m2: FloatArray
    temp_air_c: FloatArray
    wind_speed_ms: FloatArray
    pressure_pa: FloatArray
    precip_mm_h: FloatArray
    cloud_cover: FloatArray
    forecast: WeatherForecast
    description: str

    def frame(self) -> pd.DataFrame:
        """The weather as the columns forecasters read: realised ``wx:`` and forecast ``wxf:``.

        Returns
        -------
        DataFrame
            ``wx:temp_c`` [°C], ``wx:precip_mm_h`` [mm/h], ``wx:ghi_w_m2`` [W/m²],
            ``wx:wind_speed_ms`` [m/s] and the same under ``wxf:``, plus
            ``wxf:precip_mm_day`` [mm/d].
        """
        f = self.forecast
        return pd.DataFrame(
            {
                "wx:temp_c": self.temp_air_c,
                "wx:precip_mm_h": self.precip_mm_h,
                "wx:ghi_w_m2": self.ghi_w_m2,
                "wx:wind_speed_ms": self.wind_speed_ms,
                "wxf:temp_c": f.temp_air_c,
                "wxf:precip_mm_h": f.precip_mm_h,
                "wxf:precip_mm_day": f.precip_mm_day,
                "wxf:ghi_w_m2": f.ghi_w_m2,
                "wxf:wind_speed_ms": f.wind_speed_ms,
            },
            index=self.index,
        )


def ar1(rng: np.random.Generator, n: int, phi: float, std: float) -> FloatArray:
    """Stationary AR(1) series of ``n`` values, coefficient ``phi``, marginal std ``std``."""
    innov = rng.normal(0.0, std * np.sqrt(1.0 - phi * phi), n)
    innov[0] = rng.normal(0.0, std)
    out: FloatArray = lfilter([1.0], [1.0, -phi], innov)  # out[i] = phi out[i-1] + innov[i]
    return out


def _ar1_normal(n: int, step_h: float, tau_h: float, rng: np.random.Generator) -> FloatArray:
    """A stationary AR(1) series with standard normal marginals and time constant ``tau_h``."""
    return ar1(rng, n, math.exp(-step_h / tau_h), 1.0)


def _year_index(timezone: str, year: int, step_min: int) -> pd.DatetimeIndex:
    return pd.date_range(
        pd.Timestamp(year=year, month=1, day=1).tz_localize(timezone),
        pd.Timestamp(year=year + 1, month=1, day=1).tz_localize(timezone),
        freq=f"{step_min}min",
        inclusive="left",
    )


def _clear_sky_ghi(spec: WeatherSpec, index: pd.DatetimeIndex, step_h: float) -> FloatArray:
    """Ineichen clear-sky GHI at the mid-point of each step [W/m²]."""
    import pvlib

    loc = pvlib.location.Location(
        spec.latitude_deg, spec.longitude_deg, altitude=spec.altitude_m, tz=str(index.tz)
    )
    mid = index + pd.Timedelta(hours=step_h / 2)
    return np.asarray(loc.get_clearsky(mid, model="ineichen")["ghi"], dtype=np.float64)


@dataclass(frozen=True)
class _Rain:
    wet: npt.NDArray[np.bool_]  # per day
    precip_mm_h: FloatArray  # per step
    in_spell: npt.NDArray[np.bool_]  # per step


def _rain(
    c: Climate,
    wet: npt.NDArray[np.bool_],
    day_of: npt.NDArray[np.intp],
    month: npt.NDArray[np.intp],
    hour: FloatArray,
    rng: np.random.Generator,
) -> _Rain:
    """Rain on the wet days: one spell of 3-18 h from a random hour, gamma amount."""
    n_days = len(wet)
    mean_mm = np.asarray(c.wet_day_mm)[month]
    amount = np.where(wet, rng.gamma(0.8, mean_mm / 0.8), 0.0)
    start_h = rng.uniform(0.0, 24.0, n_days)
    length_h = rng.uniform(3.0, 18.0, n_days)
    rel = (hour - start_h[day_of]) % 24.0
    in_spell = (rel < length_h[day_of]) & wet[day_of]
    precip = np.where(in_spell, amount[day_of] / length_h[day_of], 0.0)
    precip *= rng.lognormal(0.0, 0.4, len(hour))
    return _Rain(wet, precip, in_spell)


def _markov_wet(p_day: FloatArray, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """Wet days of a two-state Markov chain whose stationary wet share is ``p_day``."""
    n = len(p_day)
    wet = np.zeros(n, dtype=bool)
    u = rng.random(n)
    wet[0] = u[0] < p_day[0]
    for i in range(1, n):  # P(wet|wet) = p + 0.3 (1 - p), P(wet|dry) = 0.7 p
        p = p_day[i]
        wet[i] = u[i] < (p + 0.3 * (1 - p) if wet[i - 1] else 0.7 * p)
    return wet


def _dullest_wet(
    clearness: FloatArray, month: npt.NDArray[np.intp], p_month: tuple[float, ...]
) -> npt.NDArray[np.bool_]:
    """Wet days where the sky is dullest: per month, as many as its wet-day probability."""
    wet = np.zeros(len(clearness), dtype=bool)
    for m in range(12):
        days = np.flatnonzero(month == m)
        k = round(p_month[m] * len(days))
        if k:
            wet[days[np.argsort(clearness[days], kind="stable")[:k]]] = True
    return wet


def _smooth(values: FloatArray, steps: int) -> FloatArray:
    out: FloatArray = pd.Series(values).rolling(steps, center=True, min_periods=1).mean().to_numpy()
    return out


def _daily_extraterrestrial_wh_m2(latitude_deg: float, doy: FloatArray) -> FloatArray:
    """Daily solar irradiation on a horizontal plane above the atmosphere [Wh/m²] (Duffie &
    Beckman, eq. 1.10.3), the yardstick of a day's clearness."""
    phi = math.radians(latitude_deg)
    decl = np.radians(23.45) * np.sin(2 * np.pi * (284.0 + doy) / 365.0)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(decl), -1.0, 1.0))
    e0 = 1.0 + 0.033 * np.cos(2 * np.pi * doy / 365.0)
    g_sc = 1367.0
    out: FloatArray = (
        (24.0 / np.pi)
        * g_sc
        * e0
        * (np.cos(phi) * np.cos(decl) * np.sin(ws) + ws * np.sin(phi) * np.sin(decl))
    )
    return out


@dataclass(frozen=True)
class _Year:
    """The drivers of one local calendar year; irradiance is finished on the steps asked for
    (the clear sky is computed only there)."""

    index: pd.DatetimeIndex
    sky_factor: FloatArray | None  # clear_sky: 1 - 0.75 C^3.4
    file_ghi: FloatArray | None  # file sources: the file's irradiance
    cover: FloatArray | None  # clear_sky: the cloud cover
    temp: FloatArray
    wind: FloatArray
    pressure: FloatArray
    precip: FloatArray
    temp_f: FloatArray
    precip_f: FloatArray
    precip_day_f: FloatArray
    ghi_error: FloatArray  # multiplier of the day-ahead irradiance forecast
    wind_f: FloatArray
    description: str


_BUILDS = [0]


def weather_builds() -> int:
    """How many calendar years of weather this process has built (each is built once)."""
    return _BUILDS[0]


@lru_cache(maxsize=12)
def _year_weather(spec_json: str, timezone: str, seed: int, year: int, step_min: int) -> _Year:
    """The weather drivers of one local calendar year (kept: runs and histories share it)."""
    _BUILDS[0] += 1
    spec = WeatherSpec.model_validate_json(spec_json)
    c = climate_for(timezone)
    index = _year_index(timezone, year, step_min)
    step_h = step_min / 60.0
    rng = np.random.default_rng([seed, 0x57EA, year])
    days = pd.DatetimeIndex(index.normalize().unique())
    n_days = len(days)
    day_of = np.asarray(pd.Index(days).get_indexer(index.normalize()), dtype=np.intp)
    month = np.asarray(days.month, dtype=np.intp) - 1
    hour = np.asarray(index.hour + index.minute / 60.0, dtype=np.float64)
    p_month = spec.wet_day_probability or c.wet_day_probability
    climate = Climate(**{**c.__dict__, "wet_day_probability": tuple(p_month)})
    if spec.wet_day_mm is not None:
        climate = Climate(**{**climate.__dict__, "wet_day_mm": tuple(spec.wet_day_mm)})
    sky_factor = file_ghi = cover = None
    if spec.source == "clear_sky":
        wet = _markov_wet(np.asarray(p_month, dtype=np.float64)[month], rng)
        rain = _rain(climate, wet, day_of, month, hour, rng)
        z = _ar1_normal(len(index), step_h, spec.cloud_persistence_h, rng)
        z = z + np.where(wet[day_of], 0.6, 0.0) + np.where(rain.in_spell, 1.2, 0.0)
        target = min(max(spec.cloud_cover_mean, 1e-6), 1 - 1e-6)
        offset = brentq(lambda o: float(ndtr(z + o).mean()) - target, -12.0, 12.0)
        cover = np.asarray(ndtr(z + offset), dtype=np.float64)
        sky_factor = 1.0 - 0.75 * cover**3.4
        zw = _ar1_normal(len(index), step_h, 12.0, rng)
        scale = spec.wind_mean_ms / math.gamma(1.5)
        wind = scale * np.sqrt(-np.log1p(-np.clip(ndtr(zw), 0.0, 1.0 - 1e-12)))
        doy = np.asarray(index.dayofyear, dtype=np.float64)
        season = -1.0 if spec.latitude_deg >= 0 else 1.0
        anomaly = ar1(rng, n_days, 0.75, climate.anomaly_std_c)
        temp = (
            spec.temperature_mean_c
            + season * spec.temperature_seasonal_c * np.cos(2 * np.pi * (doy - 20.0) / 365.0)
            + anomaly[day_of]
            - climate.diurnal_amplitude_c * np.cos(2 * np.pi * (hour - 3.0) / 24.0)
            - np.where(rain.in_spell, 1.0, 0.0)
        )
        pressure = np.full(len(index), _pressure_pa(spec.altitude_m))
        what = (
            f"synthetic: Ineichen clear sky at {spec.latitude_deg:.3f}, "
            f"{spec.longitude_deg:.3f} with stochastic cloud cover (mean "
            f"{spec.cloud_cover_mean:.2f}) and rain of {climate.place}'s climate; not measured"
        )
    else:
        if spec.source == "pvlib_tmy":
            hourly = read_tmy(package_file("pvlib", "data", spec.tmy_file))
            what = f"pvlib TMY3 typical year {spec.tmy_file} (a US station) mapped by clock time"
        else:
            name = f"TRY2010_{spec.try_region:02d}_Jahr.dat"
            hourly = read_dwd_try(package_file("demandlib", "vdi", "resources_weather", name))
            what = f"DWD test reference year 2010, region {spec.try_region} (Germany), by clock"
        file_ghi = np.maximum(on_index(hourly["ghi_w_m2"].to_numpy(float), index), 0.0)
        temp = on_index(hourly["temp_air_c"].to_numpy(float), index)
        wind = np.maximum(on_index(hourly["wind_speed_ms"].to_numpy(float), index), 0.0)
        pressure = on_index(hourly["pressure_pa"].to_numpy(float), index)
        daily_ghi = np.bincount(day_of, weights=file_ghi, minlength=n_days) * step_h
        top = _daily_extraterrestrial_wh_m2(
            spec.latitude_deg, np.asarray(days.dayofyear, dtype=np.float64)
        )
        clearness = np.clip(daily_ghi / np.maximum(top, 1e-9), 0.0, 1.0)
        wet = _dullest_wet(clearness, month, tuple(p_month))
        rain = _rain(climate, wet, day_of, month, hour, rng)
        what += f", rain on its dullest days ({climate.place}'s wet-day shares); not measured"
    n_days = int(day_of.max()) + 1
    temp_err = rng.normal(0.0, 1.2, n_days)
    rain_scale = rng.lognormal(0.0, 0.35, n_days) * (rng.random(n_days) > 0.08)
    precip_f = _smooth(rain.precip_mm_h, 25) * rain_scale[day_of]
    precip_day = np.bincount(day_of, weights=precip_f, minlength=n_days)[day_of] * step_h
    ghi_err = rng.lognormal(-0.5 * 0.2**2, 0.2, n_days)[day_of]
    wind_err = rng.lognormal(-0.5 * 0.15**2, 0.15, n_days)[day_of]
    if spec.note:
        what += f" ({spec.note})"
    return _Year(
        index=index,
        sky_factor=sky_factor,
        file_ghi=file_ghi,
        cover=cover,
        temp=np.asarray(temp, dtype=np.float64),
        wind=np.asarray(wind, dtype=np.float64),
        pressure=np.asarray(pressure, dtype=np.float64),
        precip=rain.precip_mm_h,
        temp_f=np.asarray(temp + temp_err[day_of], dtype=np.float64),
        precip_f=np.asarray(precip_f, dtype=np.float64),
        precip_day_f=np.asarray(precip_day, dtype=np.float64),
        ghi_error=np.asarray(ghi_err, dtype=np.float64),
        wind_f=np.asarray(np.maximum(_smooth(wind, 13) * wind_err, 0.0), dtype=np.float64),
        description=what,
    )


def _pressure_pa(altitude_m: float) -> float:
    import pvlib

    return float(pvlib.atmosphere.alt2pres(altitude_m))


def scenario_weather(scenario: Scenario, index: pd.DatetimeIndex) -> Weather:
    """The corridor's weather on ``index`` (tz-aware steps on the scenario's grid).

    Parameters
    ----------
    scenario : Scenario
    index : DatetimeIndex
        Planning steps in the scenario's time zone, from local midnight on its grid.

    Raises
    ------
    DataError
        If ``index`` is empty or off the scenario's grid.
    """
    if len(index) == 0:
        raise DataError("weather of an empty index: give at least one step")
    spec = weather_spec(scenario)
    step_min = scenario.simulation.planning_step_min
    local = index.tz_convert(scenario.timezone)
    years = range(local[0].year, local[-1].year + 1)
    try:
        parts = [
            _year_weather(spec.model_dump_json(), scenario.timezone, scenario.seed, y, step_min)
            for y in years
        ]
    except (ValueError, KeyError) as err:  # pytz's NonExistent/AmbiguousTimeError are these
        raise DataError(
            f"time zone {scenario.timezone}: a day of {local[0].year}..{local[-1].year} does "
            f"not start at a clock midnight ({err}); runs need days that begin at 00:00"
        ) from None
    return _finish(spec, parts, local, step_min / 60.0)


def _finish(
    spec: WeatherSpec, parts: list[_Year], index: pd.DatetimeIndex, step_h: float
) -> Weather:
    """The weather on ``index`` from the years' drivers: the clear sky on these steps only."""
    whole = pd.DatetimeIndex(parts[0].index.append([p.index for p in parts[1:]]))
    where = whole.get_indexer(index)
    if (where < 0).any():
        raise DataError(
            f"step {index[where < 0][0]} is not on the weather's {round(step_h * 60)}-min grid "
            "from local midnight"
        )

    def cat(name: str) -> FloatArray:
        return np.concatenate([getattr(p, name) for p in parts])[where]

    clear = _clear_sky_ghi(spec, index, step_h)
    if spec.source == "clear_sky":
        ghi = clear * cat("sky_factor")
        cover = cat("cover")
    else:
        ghi = cat("file_ghi")
        k = np.clip(ghi / np.maximum(clear, 1e-9), 0.0, 1.0)
        cover = np.where(clear > 20.0, (np.clip(1.0 - k, 0.0, 0.75) / 0.75) ** (1 / 3.4), 0.0)
    return Weather(
        index=index,
        ghi_w_m2=np.asarray(ghi, dtype=np.float64),
        temp_air_c=cat("temp"),
        wind_speed_ms=cat("wind"),
        pressure_pa=cat("pressure"),
        precip_mm_h=cat("precip"),
        cloud_cover=np.asarray(cover, dtype=np.float64),
        forecast=WeatherForecast(
            temp_air_c=cat("temp_f"),
            precip_mm_h=cat("precip_f"),
            precip_mm_day=cat("precip_day_f"),
            ghi_w_m2=np.asarray(np.maximum(ghi * cat("ghi_error"), 0.0), dtype=np.float64),
            wind_speed_ms=cat("wind_f"),
        ),
        description=parts[0].description,
    )
