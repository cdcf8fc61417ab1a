"""The price and CO2 series of a run from the scenario's price source and CO2 mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.prices import align_prices, read_jepx_spot, read_price_csv
from ersgrid.data.profiles import bdew_energy_share
from ersgrid.data.weather import Weather, load_weather
from ersgrid.grid.renewables import (
    REFERENCE_PV,
    REFERENCE_WIND,
    REFERENCE_WIND_KW,
    pv_from_weather_kw,
    wind_ac_kw,
)
from ersgrid.market.merit_order import merit_order_dispatch
from ersgrid.market.tariff import co2_series, price_series
from ersgrid.scenario.energy import MeritOrderSpec
from ersgrid.scenario.schema import Scenario

__all__ = ["scenario_co2_series", "scenario_price_series", "system_balance"]

FloatArray = npt.NDArray[np.float64]


def system_balance(
    scenario: Scenario, model: MeritOrderSpec, index: pd.DatetimeIndex
) -> tuple[FloatArray, FloatArray]:
    """System demand and system PV + wind of the merit-order model [MW]."""
    total = sum(model.demand_profiles.values())
    shape = sum(w / total * bdew_energy_share(p, index) for p, w in model.demand_profiles.items())
    shape = np.asarray(shape, dtype=float)
    # The year's peak of the demand shape is demand_peak_mw.
    year = pd.date_range(
        pd.Timestamp(year=index[0].year, month=1, day=1, tz=index.tz), periods=35040, freq="15min"
    )
    year_shape = sum(
        w / total * bdew_energy_share(p, year) for p, w in model.demand_profiles.items()
    )
    peak_share = float(np.max(np.asarray(year_shape, dtype=float)))
    demand = model.demand_peak_mw * shape / peak_share
    ren = np.zeros(len(index))
    if scenario.weather is not None and (model.pv_capacity_mw > 0 or model.wind_capacity_mw > 0):
        weather: Weather = load_weather(scenario.weather, index, scenario.seed)
        if model.pv_capacity_mw > 0:
            pv = pv_from_weather_kw([REFERENCE_PV], weather, scenario.weather)[0]
            ren += model.pv_capacity_mw * pv / REFERENCE_PV.peak_kw
        if model.wind_capacity_mw > 0:
            wind_kw = wind_ac_kw(REFERENCE_WIND, weather)
            ren += model.wind_capacity_mw * wind_kw / REFERENCE_WIND_KW
    return demand, ren


def scenario_price_series(scenario: Scenario, index: pd.DatetimeIndex) -> pd.Series:
    """Grid energy price at each step from ``scenario.prices`` [currency/kWh].

    ``tariff`` gives :func:`ersgrid.market.tariff.price_series`; ``csv`` and ``jepx`` read
    the file (relative paths from the working directory) and add ``adder_per_kwh``;
    ``merit_order`` runs the model on the run's steps and adds ``adder_per_kwh``.
    """
    spec = scenario.prices
    if spec.source == "tariff":
        return price_series(scenario.tariff, index)
    if spec.source in ("csv", "jepx"):
        path = Path(str(spec.path))
        raw = (
            read_price_csv(path, scenario.timezone)
            if spec.source == "csv"
            else read_jepx_spot(path, spec.area)
        )
        series = align_prices(raw, index, str(path))
        return (series + spec.adder_per_kwh).rename("price_per_kwh")
    assert spec.merit_order is not None  # validated by the schema
    demand, ren = system_balance(scenario, spec.merit_order, index)
    price, _co2, _ = merit_order_dispatch(demand, ren, spec.merit_order)
    return pd.Series(price + spec.adder_per_kwh, index=index, name="price_per_kwh")


def scenario_co2_series(scenario: Scenario, index: pd.DatetimeIndex) -> pd.Series:
    """CO2 intensity of grid imports at each step from ``scenario.co2`` [kg/kWh]."""
    co2 = scenario.co2
    if co2.mode == "constant":
        return co2_series(co2, index)
    if co2.mode == "time_of_day":
        hourly = np.asarray(co2.hourly_kg_per_kwh, dtype=float)
        return pd.Series(hourly[np.asarray(index.hour)], index=index, name="co2_kg_per_kwh")
    assert scenario.prices.merit_order is not None  # validated by the schema
    demand, ren = system_balance(scenario, scenario.prices.merit_order, index)
    _price, intensity, _ = merit_order_dispatch(demand, ren, scenario.prices.merit_order)
    return pd.Series(intensity, index=index, name="co2_kg_per_kwh")
