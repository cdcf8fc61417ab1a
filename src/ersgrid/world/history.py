"""The forecasting history of a world: what the forecasters learn from, on any window.

A history is the world of a window before (and around) a run, read as the series an operator
would have metered:

* **traffic** - vehicles counted per step by class and direction: Poisson counts about the
  world's traffic intensity (the intensity the twin draws from), or the user's measured counts
  (``traffic.source: counts``) where the file has them;
* **demand** - the other loads at each connection (their standard profiles) moved by the
  world's temperature (heating and cooling), by the traffic of the day (service-area shops and
  restaurants) and by metering noise;
* **PV, wind, renewables** - the world's plants (modelled on its weather, or measured);
* **price, CO2** - the world's price and CO2 series.

Columns are ``traffic:<class>_<direction>`` and ``traffic`` [veh/step]; ``demand`` and
``demand:<substation>`` [kW] with their load profiles ``profile:demand...`` (known in advance);
``pv``, ``wind``, ``renewable`` [kW] where the scenario has them; ``price`` [currency/kWh];
``co2`` [kg/kWh]; and the world's weather (``wx:`` realised, ``wxf:`` as forecast a day ahead).
Values a user's file does not cover are NaN: the forecasters train on what there is.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.scenario.schema import Scenario
from ersgrid.world.traffic import ar1_log
from ersgrid.world.world import World, build_world

__all__ = [
    "PROFILE_PREFIX",
    "TRAFFIC_PREFIX",
    "generate_history",
    "history_frame",
    "history_index",
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


def _demand_factor(
    temp: FloatArray,
    traffic_ratio: FloatArray,
    rng: np.random.Generator,
    days: npt.NDArray[np.int64],
    n_connections: int,
) -> FloatArray:
    """Relative deviation of metered demand from the profile [-], shape (steps, connections).

    Temperature and the day's traffic act on every connection alike; each connection has its
    own day effect and metering noise on top of a common day effect.
    """
    daily_mean = pd.Series(temp).groupby(days).transform("mean").to_numpy()
    # heating below 14 °C, cooling above 22 °C, on the day's mean temperature [U]
    heating = 0.012 * np.maximum(0.0, 14.0 - daily_mean)
    cooling = 0.025 * np.maximum(0.0, daily_mean - 22.0)
    thermal = 1.0 + heating + cooling
    thermal = thermal / thermal.mean()
    n_days = int(days.max()) + 1
    common = thermal * (0.8 + 0.2 * traffic_ratio) * ar1_log(rng, n_days, 0.5, 0.025)[days]
    own_day = np.column_stack([ar1_log(rng, n_days, 0.5, 0.02) for _ in range(n_connections)])
    noise = rng.lognormal(-0.5 * 0.04**2, 0.04, (len(temp), n_connections))
    out: FloatArray = common[:, None] * own_day[days] * noise
    return out


def history_frame(world: World, targets: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The history of every forecast target on the world's steps.

    Parameters
    ----------
    world : World
        A world built for the history's window (:func:`~ersgrid.world.world.build_world` with
        ``history=True``, so a user's file that covers less gives NaN, not an error).
    targets : tuple of str, optional
        Only these groups (``traffic``, ``demand``, ``renewables``, ``market``); all by default.
        The weather columns are always there.

    Returns
    -------
    DataFrame
        One row per step; columns as described in the module docstring.
    """
    groups = targets or ("traffic", "demand", "renewables", "market")
    sc, index = world.scenario, world.index
    rng = np.random.default_rng([sc.seed, 5])
    frame: dict[str, FloatArray] = {}
    counts = world.traffic_counts
    frame |= {f"{TRAFFIC_PREFIX}{c}": counts[c].to_numpy() for c in counts.columns}
    frame["traffic"] = counts.to_numpy().sum(axis=1)
    if "demand" in groups:
        days_code = np.asarray(pd.Index(index.normalize()).factorize()[0], dtype=np.int64)
        expected_total = world.expected_volume.to_numpy().sum(axis=1)
        counted = pd.Series(frame["traffic"]).groupby(days_code).transform("sum").to_numpy()
        expected = pd.Series(expected_total).groupby(days_code).transform("sum").to_numpy()
        ratio_daily = np.nan_to_num(counted / np.maximum(expected, 1.0), nan=1.0)
        other = np.asarray(world.energy.other_load_kw, dtype=np.float64)
        factor = _demand_factor(
            world.weather.temp_air_c, ratio_daily, rng, days_code, other.shape[1]
        )
        demand = other * factor
        for j, sub in enumerate(world.layout.sub_ids):
            if np.any(other[:, j] > 0):
                frame[f"demand:{sub}"] = demand[:, j]
                frame[f"{PROFILE_PREFIX}demand:{sub}"] = other[:, j]
        frame["demand"] = demand.sum(axis=1)
        frame[f"{PROFILE_PREFIX}demand"] = other.sum(axis=1)
    if "renewables" in groups:
        plants = world.plants
        for kind in plants.kinds_present:
            frame[kind] = plants.of_kind(kind)
        frame["renewable"] = np.asarray(world.energy.renewable_kw, dtype=np.float64).sum(axis=1)
    if "market" in groups:
        frame["price"] = world.price_per_kwh
        frame["co2"] = world.co2_kg_per_kwh
    out = pd.DataFrame(frame, index=index)
    if "traffic" not in groups:
        out = out.drop(columns=[c for c in out.columns if str(c).startswith(TRAFFIC_PREFIX)])
        out = out.drop(columns=["traffic"])
    return pd.concat([out, world.weather.frame()], axis=1)


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
        See :func:`history_frame`.
    """
    end = end or scenario.simulation.start
    if seed is not None and seed != scenario.seed:
        scenario = scenario.model_copy(update={"seed": int(seed)})
    world = build_world(scenario, history_index(scenario, end, days), history=True)
    return history_frame(world)
