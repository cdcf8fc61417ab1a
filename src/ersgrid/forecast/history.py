"""A year (or any span) of 15-min history generated from a scenario's own models.

No public traffic counts are available offline, so the history that forecasters learn from
is drawn from the scenario itself:

* **traffic** — :func:`ersgrid.twin.traffic.expected_volume` (weekday/weekend/public-holiday
  shapes) moved by holiday periods (:mod:`ersgrid.forecast.calendar`: Golden Week, Obon,
  New Year, midsummer, …), by weather (rain thins car traffic, snow thins all traffic), by a
  persistent day-level effect (AR(1) in log space) and by count noise (Poisson around an
  over-dispersed mean);
* **demand** — the other loads at each substation
  (:func:`ersgrid.grid.context.build_energy_context`) moved by temperature anomalies
  (heating and cooling), by the traffic of the day (service-area shops and restaurants) and by
  metering noise;
* **PV, wind, renewables** — the scenario's plants on its own weather
  (:func:`ersgrid.forecast.sources.renewable_series`) and the energy context's total;
* **price, CO2** — the scenario's market model or tariff
  (:func:`ersgrid.forecast.sources.market_series`).

Columns are ``traffic:<class>_<direction>`` and ``traffic`` [veh/step]; ``demand`` and
``demand:<substation>`` [kW] with their load profiles ``profile:demand…`` (the context's other
loads: the standard load profile an operator knows in advance); ``pv``, ``wind``, ``renewable``
[kW] where the scenario has them; ``price`` [currency/kWh]; ``co2`` [kg/kWh]; plus the weather
columns of :func:`~ersgrid.forecast.weather.synthetic_weather` and of the plants.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError
from ersgrid.forecast.calendar import HOLIDAY_PERIODS, holiday_period_code
from ersgrid.forecast.sources import market_series, renewable_series
from ersgrid.forecast.weather import ar1, synthetic_weather
from ersgrid.grid.context import build_energy_context
from ersgrid.scenario.layout import build_layout
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.twin.traffic import expected_volume, holiday_mask

__all__ = [
    "PROFILE_PREFIX",
    "TRAFFIC_PREFIX",
    "generate_history",
    "history_index",
    "traffic_history",
    "traffic_intensity",
    "traffic_weather",
]

FloatArray = npt.NDArray[np.float64]
TRAFFIC_PREFIX = "traffic:"
PROFILE_PREFIX = "profile:"


def history_index(scenario: Scenario, end: dt.date, days: int) -> pd.DatetimeIndex:
    """15-min steps of the ``days`` local days before ``end`` (exclusive), tz-aware."""
    first = pd.Timestamp(end - dt.timedelta(days=days)).tz_localize(scenario.timezone)
    last = pd.Timestamp(end).tz_localize(scenario.timezone)
    step = f"{scenario.simulation.planning_step_min}min"
    return pd.date_range(first, last, freq=step, inclusive="left")


def _ar1_log(rng: np.random.Generator, n: int, phi: float, std: float) -> FloatArray:
    """Multiplicative AR(1) day effect with mean 1 (log-normal, log std ``std``)."""
    out: FloatArray = np.exp(ar1(rng, n, phi, std) - 0.5 * std * std)
    return out


def _year_index(scenario: Scenario, year: int) -> pd.DatetimeIndex:
    """Every planning step of local calendar year ``year``."""
    tz = scenario.timezone
    return pd.date_range(
        pd.Timestamp(year=year, month=1, day=1).tz_localize(tz),
        pd.Timestamp(year=year + 1, month=1, day=1).tz_localize(tz),
        freq=f"{scenario.simulation.planning_step_min}min",
        inclusive="left",
    )


_YEARS: dict[tuple[int, str, int, int], pd.DataFrame] = {}


def _year_draws(scenario: Scenario, year: int) -> pd.DataFrame:
    """Weather and traffic day effects of one calendar year, from the seed ``(seed, 5, year)``.

    Kept for the last few (seed, time zone, step, year): a run and its history ask for the same.
    """
    key = (scenario.seed, scenario.timezone, scenario.simulation.planning_step_min, year)
    if key in _YEARS:
        return _YEARS[key]
    index = _year_index(scenario, year)
    rng = np.random.default_rng([scenario.seed, 5, year])
    weather = synthetic_weather(scenario.timezone, index, rng)
    days = np.asarray(pd.Index(index.normalize()).factorize()[0])
    n_days = int(days.max()) + 1
    columns: dict[str, FloatArray] = {"fx:common": _ar1_log(rng, n_days, 0.6, 0.045)[days]}
    for c, name in enumerate(VEHICLE_CLASSES):
        for d, tag in enumerate(("A", "B")):
            own_rng = np.random.default_rng([scenario.seed, 5, year, c, d])
            own = own_rng.lognormal(0.0, 0.02, n_days)[days]
            over = own_rng.lognormal(-0.5 * 0.05**2, 0.05, len(index))
            columns[f"fx:{name}_{tag}"] = own * over
    out = pd.concat([weather, pd.DataFrame(columns, index=index)], axis=1)
    if len(_YEARS) >= 8:
        _YEARS.pop(next(iter(_YEARS)))
    _YEARS[key] = out
    return out


def _drivers(scenario: Scenario, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Weather (``wx:``, ``wxf:``) and traffic effects (``fx:``) on ``index``: the same values
    for the same step whatever window is asked for."""
    if len(index) == 0:
        raise DataError("traffic intensity of an empty index: give at least one step")
    years = range(index[0].year, index[-1].year + 1)
    full = pd.concat([_year_draws(scenario, y) for y in years])
    take = full.index.get_indexer(index)
    if (take < 0).any():
        raise DataError(
            f"steps such as {index[take < 0][0]} are not on the scenario's "
            f"{scenario.simulation.planning_step_min}-min grid from midnight"
        )
    return full.iloc[take].set_axis(index)


def traffic_weather(scenario: Scenario, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Synthetic weather of the corridor on ``index`` (see
    :func:`~ersgrid.forecast.weather.synthetic_weather`), drawn year by year from the scenario's
    seed so a run and a history that cover the same day see the same weather.

    Returns
    -------
    DataFrame
        ``wx:temp_c`` [°C], ``wx:precip_mm_h`` [mm/h] and the forecasts ``wxf:…``.
    """
    drivers = _drivers(scenario, index)
    return drivers[[c for c in drivers.columns if str(c).startswith(("wx:", "wxf:"))]]


def traffic_intensity(scenario: Scenario, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Mean vehicles entering per step, shaped like real traffic [veh/step].

    The one source of the traffic the twin draws (``ersgrid run``) and the history counts
    (:func:`traffic_history`): :func:`~ersgrid.twin.traffic.expected_volume` moved by holiday
    periods (car and truck factors, leisure diurnal shape on working days), by the weather of
    :func:`traffic_weather` (rain thins car traffic, snow all traffic, storm days cancel car
    trips), by a persistent day effect common to all classes (AR(1) in log space, φ = 0.6,
    σ = 4.5 %), by a day effect of each class and direction (σ = 2 %) and by step-level
    over-dispersion (σ = 5 %). Every draw comes from the scenario's seed and the calendar year,
    so the intensity of a day is the same in every window that covers it.

    Parameters
    ----------
    scenario : Scenario
    index : DatetimeIndex
        Planning steps, tz-aware, on the scenario's grid from local midnight.

    Returns
    -------
    DataFrame [veh/step]
        Columns ``<class>_<direction>`` (the layout of ``expected_volume``).
    """
    drivers = _drivers(scenario, index)
    base = expected_volume(scenario, index)
    country = scenario.traffic.holidays_country
    periods = {p.code: p for ps in HOLIDAY_PERIODS.values() for p in ps}
    code = holiday_period_code(country, index)
    hour = np.asarray(index.hour)
    off_day = (np.asarray(index.dayofweek) >= 5) | holiday_mask(scenario, index)
    wd = np.asarray(scenario.traffic.diurnal_weekday, dtype=np.float64)
    we = np.asarray(scenario.traffic.diurnal_weekend, dtype=np.float64)
    leisure_ratio = (we / we.sum()) / np.maximum(wd / wd.sum(), 1e-9)

    days = np.asarray(pd.Index(index.normalize()).factorize()[0])
    temp = drivers["wx:temp_c"].to_numpy()
    precip = drivers["wx:precip_mm_h"].to_numpy()
    rain_day = pd.Series(precip).groupby(days).transform("sum").to_numpy() * 0.25
    snow = temp < 0.5
    common = drivers["fx:common"].to_numpy()

    out: dict[str, FloatArray] = {}
    for column in base.columns:
        name = column.split("_")[0]
        truck = name == "truck"
        own_shape = scenario.vehicles[name].diurnal is not None  # type: ignore[index]
        lam = base[column].to_numpy().copy()
        factor = np.ones(len(index))
        for c, period in periods.items():
            sel = code == c
            if not sel.any():
                continue
            factor[sel] *= period.truck_factor if truck else period.car_factor
            if period.leisure_shape and not own_shape:
                shift = sel & ~off_day
                factor[shift] *= leisure_ratio[hour[shift]]
        if truck:
            weather_factor = 1.0 - np.where(snow, np.minimum(0.2, 0.03 * precip), 0.0)
        else:
            weather_factor = (
                1.0
                - np.minimum(0.15, 0.012 * precip)
                - np.where(snow, np.minimum(0.25, 0.05 * precip), 0.0)
                - np.where(rain_day > 50.0, 0.08, 0.0)  # storm days: trips cancelled
            )
        effects = drivers[f"fx:{column}"].to_numpy()
        out[column] = np.maximum(lam * factor * weather_factor * common * effects, 0.0)
    return pd.DataFrame(out, index=index)


def traffic_history(
    scenario: Scenario, index: pd.DatetimeIndex, rng: np.random.Generator
) -> pd.DataFrame:
    """Counted vehicles per step by class and direction [veh/step].

    Poisson counts about :func:`traffic_intensity` (the intensity the twin draws from).

    Parameters
    ----------
    scenario : Scenario
    index : DatetimeIndex
        15-min steps, tz-aware.
    rng : numpy Generator
        Draws the counts.

    Returns
    -------
    DataFrame [veh/step]
        Integer counts in columns ``<class>_<direction>`` (the layout of ``expected_volume``).
    """
    lam = traffic_intensity(scenario, index)
    counts = rng.poisson(lam.to_numpy()).astype(np.float64)
    return pd.DataFrame(counts, index=index, columns=lam.columns)


def _demand_factor(
    weather: pd.DataFrame,
    traffic_ratio: FloatArray,
    rng: np.random.Generator,
    days: npt.NDArray[np.int64],
    n_connections: int,
) -> FloatArray:
    """Relative deviation of metered demand from the profile [-], shape (steps, connections).

    Temperature and the day's traffic act on every connection alike; each connection has its
    own day effect and metering noise on top of a common day effect.
    """
    temp = weather["wx:temp_c"].to_numpy()
    daily_mean = pd.Series(temp).groupby(days).transform("mean").to_numpy()
    # heating below 14 °C, cooling above 22 °C, on the day's mean temperature [U]
    heating = 0.012 * np.maximum(0.0, 14.0 - daily_mean)
    cooling = 0.025 * np.maximum(0.0, daily_mean - 22.0)
    thermal = 1.0 + heating + cooling
    thermal = thermal / thermal.mean()
    n_days = int(days.max()) + 1
    common = thermal * (0.8 + 0.2 * traffic_ratio) * _ar1_log(rng, n_days, 0.5, 0.025)[days]
    own_day = np.column_stack([_ar1_log(rng, n_days, 0.5, 0.02) for _ in range(n_connections)])
    noise = rng.lognormal(-0.5 * 0.04**2, 0.04, (len(temp), n_connections))
    out: FloatArray = common[:, None] * own_day[days] * noise
    return out


def generate_history(
    scenario: Scenario,
    end: dt.date | None = None,
    days: int = 365,
    seed: int | None = None,
) -> pd.DataFrame:
    """History of every forecast target for the ``days`` local days before ``end``.

    Parameters
    ----------
    scenario : Scenario
    end : date, optional
        First day *after* the history (the scenario's start by default).
    days : int [d]
        Length of the history.
    seed : int, optional
        Seed of the draw (the scenario's seed by default); the same seed gives the same history.

    Returns
    -------
    DataFrame
        One row per 15-min step; target columns as described in the module docstring, and
        weather columns ``wx:*`` (realised) and ``wxf:*`` (forecast).
    """
    end = end or scenario.simulation.start
    index = history_index(scenario, end, days)
    if seed is not None and seed != scenario.seed:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    rng = np.random.default_rng([scenario.seed, 5])
    weather = traffic_weather(scenario, index)
    counts = traffic_history(scenario, index, rng)
    frame: dict[str, FloatArray] = {
        f"{TRAFFIC_PREFIX}{c}": counts[c].to_numpy() for c in counts.columns
    }
    frame["traffic"] = counts.to_numpy().sum(axis=1)

    layout = build_layout(scenario)
    energy = build_energy_context(scenario, layout, index)
    days_code = np.asarray(pd.Index(index.normalize()).factorize()[0], dtype=np.int64)
    expected_total = expected_volume(scenario, index).to_numpy().sum(axis=1)
    ratio_daily = pd.Series(frame["traffic"]).groupby(days_code).transform(
        "sum"
    ).to_numpy() / np.maximum(
        pd.Series(expected_total).groupby(days_code).transform("sum").to_numpy(), 1.0
    )
    other = np.asarray(energy.other_load_kw, dtype=np.float64)
    factor = _demand_factor(weather, ratio_daily, rng, days_code, other.shape[1])
    demand = other * factor
    for j, sub in enumerate(layout.sub_ids):
        if np.any(other[:, j] > 0):
            frame[f"demand:{sub}"] = demand[:, j]
            frame[f"{PROFILE_PREFIX}demand:{sub}"] = other[:, j]
    frame["demand"] = demand.sum(axis=1)
    frame[f"{PROFILE_PREFIX}demand"] = other.sum(axis=1)
    plants, plant_weather = renewable_series(scenario, layout, index, rng)
    frame |= plants
    frame["renewable"] = np.asarray(energy.renewable_kw, dtype=np.float64).sum(axis=1)
    frame["price"], frame["co2"] = market_series(scenario, index)
    out = pd.DataFrame(frame, index=index)
    return pd.concat([out, weather, plant_weather], axis=1)
