"""Where the energy targets of a generated history come from: the grid and market engines.

Price and CO2 come from the scenario's market model (``ersgrid.market.prices``: tariff, price
file or merit order) where the installed ersgrid has one, else from the tariff
(``ersgrid.market.tariff``). PV and wind come from the scenario's own weather and plant
models (``ersgrid.data.weather`` and ``ersgrid.grid.renewables``, pvlib and windpowerlib)
when the scenario lists PV arrays or wind farms; then the history also carries that weather
(``wx:ghi_w_m2``, ``wx:wind_speed_ms``) and an emulated forecast of it (``wxf:``) for the
models. The engines are looked up by name so this module works with and without them; every
call goes through their public functions, never their internals.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.market.tariff import co2_series, price_series
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario

__all__ = ["market_series", "renewable_series"]

FloatArray = npt.NDArray[np.float64]


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


def market_series(scenario: Scenario, index: pd.DatetimeIndex) -> tuple[FloatArray, FloatArray]:
    """Price [currency/kWh] and CO2 intensity [kg/kWh] at each step of ``index``."""
    prices = _module("ersgrid.market.prices")
    if prices is not None and hasattr(prices, "scenario_price_series"):
        price = prices.scenario_price_series(scenario, index)
        co2 = prices.scenario_co2_series(scenario, index)
    else:
        price = price_series(scenario.tariff, index)
        co2 = co2_series(scenario.co2, index)
    return (
        np.asarray(price, dtype=np.float64),
        np.asarray(co2, dtype=np.float64),
    )


def _forecast_of(
    actual: FloatArray,
    days: npt.NDArray[np.int64],
    rng: np.random.Generator,
    error: float,
    smooth_steps: int,
) -> FloatArray:
    """An emulated day-ahead forecast: smoothed over ``smooth_steps``, scaled by a day error."""
    smooth = pd.Series(actual).rolling(smooth_steps, center=True, min_periods=1).mean().to_numpy()
    n_days = int(days.max()) + 1
    scale = rng.lognormal(-0.5 * error**2, error, n_days)[days]
    out: FloatArray = np.maximum(smooth * scale, 0.0)
    return out


def renewable_series(
    scenario: Scenario,
    layout: Layout,
    index: pd.DatetimeIndex,
    rng: np.random.Generator,
) -> tuple[dict[str, FloatArray], pd.DataFrame | None]:
    """PV and wind output [kW] (all connections) and the weather behind them, if modelled.

    Returns
    -------
    targets : dict
        ``pv`` and/or ``wind`` [kW] for the kinds the scenario has; empty otherwise.
    weather : DataFrame or None
        ``wx:ghi_w_m2`` [W/m²], ``wx:wind_speed_ms`` [m/s] and their forecasts ``wxf:…``.
    """
    renewables: Any = getattr(scenario, "renewables", None)
    spec: Any = getattr(scenario, "weather", None)
    weather_mod = _module("ersgrid.data.weather")
    plants = _module("ersgrid.grid.renewables")
    if renewables is None or spec is None or weather_mod is None or plants is None:
        return {}, None
    if not (renewables.pv or renewables.wind):
        return {}, None
    weather = weather_mod.load_weather(spec, index, scenario.seed)
    out: dict[str, FloatArray] = {}
    if renewables.pv:
        arrays = plants.pv_from_weather_kw(renewables.pv, weather, spec)
        out["pv"] = np.sum(np.asarray(arrays, dtype=np.float64), axis=0)
    if renewables.wind:
        farms = [plants.wind_ac_kw(farm, weather) for farm in renewables.wind]
        out["wind"] = np.sum(np.asarray(farms, dtype=np.float64), axis=0)
    days = np.asarray(pd.Index(index.normalize()).factorize()[0], dtype=np.int64)
    ghi = np.asarray(weather.ghi_w_m2, dtype=np.float64)
    wind = np.asarray(weather.wind_speed_ms, dtype=np.float64)
    frame = pd.DataFrame(
        {
            "wx:ghi_w_m2": ghi,
            "wx:wind_speed_ms": wind,
            # day-ahead irradiance and wind forecasts are off by ~20 % and ~15 % on a day
            "wxf:ghi_w_m2": _forecast_of(ghi, days, rng, 0.2, 1),
            "wxf:wind_speed_ms": _forecast_of(wind, days, rng, 0.15, 13),
        },
        index=index,
    )
    return out, frame
