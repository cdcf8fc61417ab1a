"""Users' answer to prices: trips that shift to cheaper hours, owners who opt in to V2G.

The model is the one documented in :mod:`ersgrid.scenario.response`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.scenario.response import ResponseSpec
from ersgrid.scenario.schema import Scenario
from ersgrid.world.prices import window_prices

__all__ = ["shift_trips", "user_price_series", "v2g_opt_in"]

FloatArray = npt.NDArray[np.float64]


def user_price_series(scenario: Scenario, index: pd.DatetimeIndex) -> FloatArray:
    """Price vehicles pay per kWh at each step [currency/kWh]: the tariff's user price, with
    the ``response.user_windows`` applied."""
    return window_prices(scenario.tariff.user_price_per_kwh, scenario.response.user_windows, index)


def v2g_opt_in(spec: ResponseSpec) -> float:
    """Share of V2G-capable owners taking part at the scenario's payment [-]."""
    if spec.v2g_half_payment_per_kwh is None:
        return 1.0
    pay = spec.v2g_payment_per_kwh
    return pay / (pay + spec.v2g_half_payment_per_kwh)


def shift_trips(
    volume: pd.DataFrame, scenario: Scenario, index: pd.DatetimeIndex
) -> tuple[pd.DataFrame, float]:
    """Move flexible trips to the cheapest user-price step within reach.

    Parameters
    ----------
    volume : DataFrame [veh/step]
        Expected volume by ``<class>_<direction>``
        (see :func:`ersgrid.world.traffic.expected_volume`).

    Returns
    -------
    (shifted volume, vehicles moved) ; the total number of vehicles is unchanged.
    """
    spec = scenario.response
    price = user_price_series(scenario, index)
    if np.ptp(price) <= 0.0 or spec.shift_max_h == 0:
        return volume, 0.0
    step_h = (index[1] - index[0]).total_seconds() / 3600.0 if len(index) > 1 else 0.25
    reach = round(spec.shift_max_h / step_h)
    n = len(index)
    target = np.empty(n, dtype=np.int64)
    for t in range(n):
        lo, hi = max(0, t - reach), min(n, t + reach + 1)
        window = price[lo:hi]
        best = np.flatnonzero(window == window.min()) + lo
        target[t] = best[np.argmin(np.abs(best - t))]  # the nearest of the cheapest steps
    saving = np.where(price > 0, (price - price[target]) / np.where(price > 0, price, 1.0), 0.0)
    share = np.minimum(1.0, spec.shift_elasticity * saving)
    out = volume.copy()
    moved = 0.0
    for column in volume.columns:
        flexible = spec.flexible_share.get(column.split("_")[0], 0.0)  # type: ignore[call-overload]
        if flexible <= 0.0:
            continue
        values = volume[column].to_numpy(dtype=np.float64)
        move = values * flexible * share
        shifted = values - move
        np.add.at(shifted, target, move)
        out[column] = shifted
        moved += float(move.sum())
    return out, moved
