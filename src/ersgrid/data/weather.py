"""Weather at the corridor from offline sources, on the run's planning steps.

Three sources ship with the installed packages, none of them measured at the corridor:

- ``pvlib_tmy``: a TMY3 typical year shipped with pvlib (US stations), mapped onto the
  corridor's calendar by local clock time.
- ``dwd_try``: a German test reference year (DWD TRY 2010, 15 climate regions) shipped with
  demandlib, mapped the same way.
- ``clear_sky``: pvlib's Ineichen clear sky at the corridor's coordinates (Linke turbidity
  from pvlib's climatology), dimmed by a stochastic cloud cover (AR(1) process through a
  normal CDF, so its mean is exactly ``cloud_cover_mean``) with the Kasten-Czeplak relation
  ``ghi = ghi_clear * (1 - 0.75 * C**3.4)``; wind from a Weibull (k = 2) AR(1) process;
  temperature from a seasonal and daily cosine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.signal import lfilter

from ersgrid.errors import DataError
from ersgrid.scenario.energy import WeatherSpec

__all__ = ["Weather", "hour_of_year", "load_weather", "read_dwd_try", "read_tmy", "read_weather"]

FloatArray = npt.NDArray[np.float64]

WIND_HEIGHT_M = 10.0
"""Height of the wind speed of every source [m]."""


@dataclass(frozen=True)
class Weather:
    """Weather on a time index.

    Attributes
    ----------
    index : DatetimeIndex
        tz-aware planning steps.
    ghi_w_m2 : ndarray [W/m²]
        Global horizontal irradiance.
    temp_air_c : ndarray [°C]
    wind_speed_ms : ndarray [m/s]
        Wind speed at :data:`WIND_HEIGHT_M`.
    pressure_pa : ndarray [Pa]
    description : str
        Where the data come from, stated honestly.
    """

    index: pd.DatetimeIndex
    ghi_w_m2: FloatArray
    temp_air_c: FloatArray
    wind_speed_ms: FloatArray
    pressure_pa: FloatArray
    description: str


def hour_of_year(index: pd.DatetimeIndex) -> FloatArray:
    """Local clock time as hours since 1 January 00:00 of a 365-day year [h].

    29 February is mapped onto 28 February so leap years reuse a typical year's data.
    """
    doy = np.asarray(index.dayofyear, dtype=np.float64)
    leap = np.asarray(index.is_leap_year)
    doy = np.where(leap & (doy >= 60), doy - 1.0, doy)
    return np.asarray(
        (doy - 1.0) * 24.0 + np.asarray(index.hour) + np.asarray(index.minute) / 60.0,
        dtype=np.float64,
    )


def _on_index(hourly: FloatArray, index: pd.DatetimeIndex) -> FloatArray:
    """Interpolate 8760 hour-ending values (centred at h - 0.5) onto the mid-point of each
    step of ``index``, periodically over the year."""
    centres = np.arange(8760, dtype=np.float64) + 0.5
    step_h = (index[1] - index[0]).total_seconds() / 3600.0 if len(index) > 1 else 0.25
    where = hour_of_year(index) + step_h / 2.0
    return np.asarray(np.interp(where, centres, hourly, period=8760.0), dtype=np.float64)


def read_tmy(path: Path) -> pd.DataFrame:
    """Read a TMY3 file into 8760 hourly rows (hour-ending, local standard time).

    Returns
    -------
    DataFrame with ``ghi_w_m2``, ``temp_air_c``, ``wind_speed_ms``, ``pressure_pa``.
    """
    import pvlib

    try:
        data, _meta = pvlib.iotools.read_tmy3(str(path), map_variables=True)
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise DataError(f"{path}: not a readable TMY3 file ({err})") from None
    if len(data) != 8760:
        raise DataError(f"{path}: a TMY3 file has 8760 hourly rows, found {len(data)}")
    return pd.DataFrame(
        {
            "ghi_w_m2": data["ghi"].to_numpy(float),
            "temp_air_c": data["temp_air"].to_numpy(float),
            "wind_speed_ms": data["wind_speed"].to_numpy(float),
            "pressure_pa": data["pressure"].to_numpy(float) * 100.0,
        }
    )


_TRY_COLUMNS = ("RG", "IS", "MM", "DD", "HH", "N", "WR", "WG", "t", "p", "x", "RF", "W", "B", "D")


def read_dwd_try(path: Path) -> pd.DataFrame:
    """Read a DWD test-reference-year file (TRY 2010 format) into 8760 hourly rows.

    Global horizontal irradiance is the sum of the file's direct (B) and diffuse (D)
    horizontal irradiance. Hours are 1..24 CET, hour-ending.

    Raises
    ------
    DataError
        Naming the line and column of the first value that is not a number.
    """
    try:
        lines = path.read_text(encoding="latin-1").splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err})") from None
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "***") + 1
    except StopIteration:
        raise DataError(f"{path}: no '***' line before the data; not a DWD TRY file") from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) < len(_TRY_COLUMNS):
            raise DataError(
                f"{path}, line {lineno}: {len(fields)} values, a TRY row has {len(_TRY_COLUMNS)}+"
            )
        row = []
        for col, text in zip(_TRY_COLUMNS, fields, strict=False):
            try:
                row.append(float(text))
            except ValueError:
                raise DataError(
                    f"{path}, line {lineno}, column {col}: {text!r} is not a number"
                ) from None
        rows.append(row)
    if len(rows) != 8760:
        raise DataError(f"{path}: a TRY file has 8760 hourly rows, found {len(rows)}")
    arr = np.asarray(rows)
    values = {name: arr[:, i] for i, name in enumerate(_TRY_COLUMNS)}
    return pd.DataFrame(
        {
            "ghi_w_m2": values["B"] + values["D"],
            "temp_air_c": values["t"],
            "wind_speed_ms": values["WG"],
            "pressure_pa": values["p"] * 100.0,
        }
    )


def _package_file(package: str, *parts: str) -> Path:
    try:
        root = resources.files(package)
    except ModuleNotFoundError:
        raise DataError(
            f"the weather source needs the package {package!r}: pip install 'ersgrid[grid]'"
        ) from None
    path = Path(str(root.joinpath(*parts)))
    if not path.is_file():
        raise DataError(f"{package} does not ship {'/'.join(parts)!r}")
    return path


def _ar1_normal(n: int, step_h: float, tau_h: float, rng: np.random.Generator) -> FloatArray:
    """A stationary AR(1) series with standard normal marginals [-]."""
    phi = math.exp(-step_h / tau_h)
    eps = rng.standard_normal(n) * math.sqrt(1.0 - phi * phi)
    eps[0] = rng.standard_normal()
    out: FloatArray = lfilter([1.0], [1.0, -phi], eps)  # out[i] = phi out[i-1] + eps[i]
    return out


def _clear_sky(spec: WeatherSpec, index: pd.DatetimeIndex, seed: int) -> Weather:
    import pvlib
    from scipy.special import ndtr, ndtri

    # Draw whole calendar years, each from its own seed (seed, year), so a day's weather
    # depends on neither the start nor the length of the window asked for: a run and the
    # history its forecasts learn from see the same weather on the same day.
    freq = index.freq or "15min"
    years = range(index[0].year, index[-1].year + 1)
    parts = [
        pd.date_range(
            pd.Timestamp(year=y, month=1, day=1, tz=index.tz),
            pd.Timestamp(year=y + 1, month=1, day=1, tz=index.tz),
            freq=freq,
            inclusive="left",
        )
        for y in years
    ]
    full = pd.DatetimeIndex(parts[0].append(parts[1:])) if len(parts) > 1 else parts[0]
    step_h = (full[1] - full[0]).total_seconds() / 3600.0 if len(full) > 1 else 0.25
    loc = pvlib.location.Location(
        spec.latitude_deg, spec.longitude_deg, altitude=spec.altitude_m, tz=str(index.tz)
    )
    z_parts, zw_parts = [], []
    for y, part in zip(years, parts, strict=True):
        rng = np.random.default_rng([seed, 0xC10D, y])
        z_parts.append(_ar1_normal(len(part), step_h, spec.cloud_persistence_h, rng))
        zw_parts.append(_ar1_normal(len(part), step_h, 12.0, rng))
    z = np.concatenate(z_parts)
    zw = np.concatenate(zw_parts)
    offset = math.sqrt(2.0) * float(ndtri(min(max(spec.cloud_cover_mean, 1e-6), 1 - 1e-6)))
    cover = ndtr(z + offset)
    scale = spec.wind_mean_ms / math.gamma(1.5)
    wind = scale * np.sqrt(-np.log1p(-np.clip(ndtr(zw), 0.0, 1.0 - 1e-12)))
    doy = np.asarray(full.dayofyear, dtype=float)
    hour = np.asarray(full.hour, dtype=float) + np.asarray(full.minute, dtype=float) / 60.0
    season = -1.0 if spec.latitude_deg >= 0 else 1.0
    temp = (
        spec.temperature_mean_c
        + season * spec.temperature_seasonal_c * np.cos(2 * np.pi * (doy - 20.0) / 365.0)
        - 4.0 * np.cos(2 * np.pi * (hour - 3.0) / 24.0)
    )
    take = full.get_indexer(index)
    # Irradiance is the mean over a step: take the clear sky at its mid-point.
    mid = index + pd.Timedelta(hours=step_h / 2)
    clear = loc.get_clearsky(mid, model="ineichen")["ghi"].to_numpy(float)
    ghi = clear * (1.0 - 0.75 * cover[take] ** 3.4)
    pressure = float(pvlib.atmosphere.alt2pres(spec.altitude_m))
    return Weather(
        index=index,
        ghi_w_m2=ghi,
        temp_air_c=temp[take],
        wind_speed_ms=wind[take],
        pressure_pa=np.full(len(index), pressure),
        description=(
            f"synthetic: Ineichen clear sky at {spec.latitude_deg:.3f}, {spec.longitude_deg:.3f} "
            f"with stochastic cloud cover (mean {spec.cloud_cover_mean:.2f}); not measured data"
        ),
    )


_CACHE: dict[tuple[str, str, int, str, int], Weather] = {}


def load_weather(spec: WeatherSpec, index: pd.DatetimeIndex, seed: int) -> Weather:
    """Weather of ``spec`` on ``index``; the last few results are kept (a run asks several times).

    See :func:`read_weather`.
    """
    key = (spec.model_dump_json(), str(index[0]), len(index), str(index.freq), seed)
    if key not in _CACHE:
        if len(_CACHE) >= 4:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = read_weather(spec, index, seed)
    return _CACHE[key]


def read_weather(spec: WeatherSpec, index: pd.DatetimeIndex, seed: int) -> Weather:
    """Weather of ``spec`` on the planning steps ``index``.

    Parameters
    ----------
    spec : WeatherSpec
    index : DatetimeIndex
        tz-aware planning steps.
    seed : int
        Seed of the stochastic parts (clear_sky only).
    """
    if spec.source == "clear_sky":
        return _clear_sky(spec, index, seed)
    if spec.source == "pvlib_tmy":
        path = _package_file("pvlib", "data", spec.tmy_file)
        hourly = read_tmy(path)
        what = f"pvlib TMY3 typical year {spec.tmy_file} (a US station) mapped by clock time"
    else:
        name = f"TRY2010_{spec.try_region:02d}_Jahr.dat"
        path = _package_file("demandlib", "vdi", "resources_weather", name)
        hourly = read_dwd_try(path)
        what = f"DWD test reference year 2010, region {spec.try_region} (Germany), by clock time"
    return Weather(
        index=index,
        ghi_w_m2=np.maximum(_on_index(hourly["ghi_w_m2"].to_numpy(float), index), 0.0),
        temp_air_c=_on_index(hourly["temp_air_c"].to_numpy(float), index),
        wind_speed_ms=np.maximum(_on_index(hourly["wind_speed_ms"].to_numpy(float), index), 0.0),
        pressure_pa=_on_index(hourly["pressure_pa"].to_numpy(float), index),
        description=what + "; not measured at the corridor",
    )
