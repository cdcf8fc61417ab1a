"""Prices and CO2 of the world: the grid price series, the user price and the CO2 intensity.

``prices.source`` picks where the grid energy price of each step comes from:

- ``tariff``: the time-of-use tariff (windows may wrap past midnight; later windows win);
- ``csv``: a ``time,price_per_kwh`` file, plus ``adder_per_kwh``;
- ``jepx``: a JEPX spot-summary CSV (half-hour products), plus ``adder_per_kwh``;
- ``merit_order``: the merit-order model of residual load, plus ``adder_per_kwh``.

A price file has one row per interval of a fixed length; it must cover every step of the run
and have no gap inside: a missing period is an error that names it (prices are never carried
forward over a hole).

The merit-order model: residual load is system demand minus PV and wind; must-run generation
(nuclear, run-of-river hydro) covers it first at no cost; dispatchable blocks follow in order of
marginal cost and the block that serves the last MW sets the price (uniform pricing); when
must-run and renewables cover demand the price falls to the floor, when demand exceeds every
block it rises to the scarcity price. The CO2 intensity of a step is the emission of the
dispatched blocks over the demand served.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.prices import read_jepx_spot, read_price_csv
from ersgrid.data.profiles import bdew_energy_share
from ersgrid.data.timeseries import epoch_ns, first_gap
from ersgrid.errors import DataError
from ersgrid.scenario.energy import MeritOrderSpec, PriceSourceSpec
from ersgrid.scenario.schema import Co2Spec, TariffSpec
from ersgrid.scenario.windows import TariffWindow

__all__ = [
    "MeritOrder",
    "align_prices",
    "co2_intensity",
    "file_prices",
    "merit_order",
    "merit_order_dispatch",
    "system_demand_mw",
    "tariff_prices",
    "window_prices",
]

FloatArray = npt.NDArray[np.float64]


def window_prices(
    base_per_kwh: float, windows: list[TariffWindow], index: pd.DatetimeIndex
) -> FloatArray:
    """A base price with daily time windows applied at each step [currency/kWh].

    Windows may wrap past midnight (e.g. 23:00-07:00); later windows win on overlap.
    """
    minute = np.asarray(index.hour * 60 + index.minute, dtype=np.int64)
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


def tariff_prices(tariff: TariffSpec, index: pd.DatetimeIndex) -> FloatArray:
    """Grid energy price of the time-of-use tariff at each step [currency/kWh]."""
    return window_prices(tariff.base_price_per_kwh, tariff.windows, index)


def align_prices(
    series: pd.Series, index: pd.DatetimeIndex, origin: str, require: bool = True
) -> FloatArray:
    """Prices of a file on the planning steps [currency/kWh].

    The file's interval is the shortest spacing of its rows; each row holds for one interval.
    Each step takes the price of the interval it starts in.

    Parameters
    ----------
    require : bool
        True: every step must be covered. False: steps without a price are NaN (a history
        that has less than asked for).

    Raises
    ------
    DataError
        With ``require``, if the file does not cover the steps or has a gap inside them,
        naming the missing period.
    """
    times = pd.DatetimeIndex(series.index)
    idx = index.tz_convert(times.tz) if times.tz is not None else index
    if len(times) > 1:
        interval = pd.Timedelta(int(np.diff(epoch_ns(times)).min()), unit="ns")
    else:
        interval = pd.Timedelta(minutes=15)
    step = idx[1] - idx[0] if len(idx) > 1 else pd.Timedelta(minutes=15)
    pos = times.get_indexer(idx, method="ffill")
    base = np.maximum(pos, 0)
    # rows needed from the step's row on to reach the step's end, all one interval apart
    need = np.ceil(((idx + step) - times[base]) / interval).astype(np.int64)
    last = base + np.maximum(need, 1) - 1
    inside = last < len(times)
    last_c = np.minimum(last, len(times) - 1)
    consecutive = (times[last_c] - times[base]) == (last_c - base) * interval
    covered = (pos >= 0) & inside & np.asarray(consecutive)
    if require and not covered.all():
        gap_start, gap_end = first_gap(index, ~covered, step)
        raise DataError(
            f"{origin}: no price for {gap_start} .. {gap_end} (the file has {times[0]} .. "
            f"{times[-1] + interval} in {interval} intervals); prices are never carried over "
            "a gap: use a file that covers the run or change the start"
        )
    out = np.asarray(series.to_numpy(dtype=np.float64)[np.maximum(pos, 0)], dtype=np.float64)
    out[~covered] = np.nan
    return out


def file_prices(
    spec: PriceSourceSpec, timezone: str, index: pd.DatetimeIndex, require: bool = True
) -> FloatArray:
    """Prices of a ``csv`` or ``jepx`` source on the steps, with its adder [currency/kWh]."""
    path = Path(str(spec.path))
    raw = (
        read_price_csv(path, timezone) if spec.source == "csv" else read_jepx_spot(path, spec.area)
    )
    return align_prices(raw, index, str(path), require) + spec.adder_per_kwh


def merit_order_dispatch(
    demand_mw: FloatArray, renewable_mw: FloatArray, model: MeritOrderSpec
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Price, CO2 intensity and dispatch of each block at each step.

    Parameters
    ----------
    demand_mw : ndarray [MW]
        System demand.
    renewable_mw : ndarray [MW]
        System PV plus wind.
    model : MeritOrderSpec

    Returns
    -------
    price_per_kwh : ndarray [currency/kWh]
    co2_kg_per_kwh : ndarray [kg/kWh]
    dispatch_mw : ndarray [MW], shape (steps, blocks) in the model's block order
    """
    order = np.argsort([p.marginal_cost_per_kwh for p in model.plants], kind="stable")
    cap = np.array([model.plants[i].capacity_mw for i in order])
    cost = np.array([model.plants[i].marginal_cost_per_kwh for i in order])
    factor = np.array([model.plants[i].co2_kg_per_kwh for i in order])
    need = np.maximum(demand_mw - renewable_mw - model.must_run_mw, 0.0)
    before = np.concatenate([[0.0], np.cumsum(cap)[:-1]])
    dispatch_sorted = np.clip(need[:, None] - before[None, :], 0.0, cap[None, :])
    marginal = np.searchsorted(np.cumsum(cap), need, side="left")
    price = np.where(
        need <= 0.0,
        model.floor_price_per_kwh,
        np.where(marginal >= len(cap), model.scarcity_price_per_kwh,
                 cost[np.minimum(marginal, len(cap) - 1)]),
    )  # fmt: skip
    served = np.maximum(demand_mw, 1e-9)
    co2 = (dispatch_sorted * factor[None, :]).sum(axis=1) / served
    dispatch = np.empty_like(dispatch_sorted)
    dispatch[:, order] = dispatch_sorted
    return price.astype(np.float64), co2, dispatch


def system_demand_mw(model: MeritOrderSpec, index: pd.DatetimeIndex) -> FloatArray:
    """System demand of the merit-order model [MW]: its BDEW mix, scaled so that the year's
    peak is ``demand_peak_mw``."""
    total = sum(model.demand_profiles.values())
    shape = sum(w / total * bdew_energy_share(p, index) for p, w in model.demand_profiles.items())
    year = pd.date_range(
        pd.Timestamp(year=index[0].year, month=1, day=1, tz=index.tz), periods=35040, freq="15min"
    )
    year_shape = sum(
        w / total * bdew_energy_share(p, year) for p, w in model.demand_profiles.items()
    )
    peak_share = float(np.max(np.asarray(year_shape, dtype=float)))
    return np.asarray(model.demand_peak_mw * np.asarray(shape) / peak_share, dtype=np.float64)


@dataclass(frozen=True)
class MeritOrder:
    """The merit-order model run on a world's steps.

    Attributes
    ----------
    demand_mw, renewable_mw : ndarray [MW]
        System demand and system PV + wind.
    price_per_kwh : ndarray [currency/kWh]
        Marginal price, before the price source's adder.
    co2_kg_per_kwh : ndarray [kg/kWh]
    dispatch_mw : ndarray [MW], shape (steps, blocks)
    """

    demand_mw: FloatArray
    renewable_mw: FloatArray
    price_per_kwh: FloatArray
    co2_kg_per_kwh: FloatArray
    dispatch_mw: FloatArray


def merit_order(
    model: MeritOrderSpec,
    index: pd.DatetimeIndex,
    pv_kw_per_kwp: FloatArray | None,
    wind_kw_per_kw: FloatArray | None,
) -> MeritOrder:
    """Run the merit-order model on ``index``.

    Parameters
    ----------
    pv_kw_per_kwp, wind_kw_per_kw : ndarray [kW/kWp], [kW/kW] or None
        Yield of the reference PV array and turbine on the world's weather (needed when the
        model has PV or wind capacity).
    """
    demand = system_demand_mw(model, index)
    ren = np.zeros(len(index))
    if model.pv_capacity_mw > 0 and pv_kw_per_kwp is not None:
        ren += model.pv_capacity_mw * pv_kw_per_kwp
    if model.wind_capacity_mw > 0 and wind_kw_per_kw is not None:
        ren += model.wind_capacity_mw * wind_kw_per_kw
    price, co2, dispatch = merit_order_dispatch(demand, ren, model)
    return MeritOrder(demand, ren, price, co2, dispatch)


def co2_intensity(co2: Co2Spec, index: pd.DatetimeIndex, merit: MeritOrder | None) -> FloatArray:
    """CO2 intensity of grid imports at each step [kg/kWh] from ``scenario.co2``."""
    if co2.mode == "constant":
        return np.full(len(index), co2.intensity_kg_per_kwh, dtype=np.float64)
    if co2.mode == "time_of_day":
        hourly = np.asarray(co2.hourly_kg_per_kwh, dtype=np.float64)
        return np.asarray(hourly[np.asarray(index.hour)], dtype=np.float64)
    if merit is None:
        raise DataError("co2 mode 'mix' needs prices.merit_order")
    return merit.co2_kg_per_kwh
