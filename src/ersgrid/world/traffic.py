"""Traffic of the world: the planners' expected volume, the shaped intensity, measured counts.

- :func:`expected_volume`: the traffic model's mean (daily volume, weekly factors, working-day
  and weekend/holiday diurnal shapes, class shares, direction split) - what a planner knows
  without a forecast.
- :func:`traffic_intensity`: the mean the twin draws from and the history counts about:
  the expected volume moved by holiday periods (car and truck factors, leisure diurnal shape on
  working days), by the world's weather (rain thins car traffic, snow all traffic, storm days
  cancel car trips), by a persistent day effect common to all classes (AR(1) in log space,
  φ = 0.6, σ = 4.5 %), by a day effect of each class and direction (σ = 2 %) and by step-level
  over-dispersion (σ = 5 %). The effects are drawn per calendar year from the scenario's seed,
  so a day's intensity is the same in every window that covers it.
- :func:`check_counts` and :func:`counts_per_step`: measured counts (``traffic.source:
  counts``) checked against the run and turned into vehicles per planning step.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.counts import TrafficCounts
from ersgrid.errors import DataError
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.world.calendar import HOLIDAY_PERIODS, Calendar
from ersgrid.world.weather import Weather, ar1

__all__ = [
    "ar1_log",
    "check_counts",
    "counts_per_step",
    "ers_fraction",
    "expected_volume",
    "traffic_columns",
    "traffic_intensity",
]

FloatArray = npt.NDArray[np.float64]


def traffic_columns(scenario: Scenario) -> list[str]:
    """The ``<class>_<direction>`` columns of the scenario's traffic, in class order."""
    return [
        f"{name}_{tag}" for name in VEHICLE_CLASSES if name in scenario.vehicles for tag in "AB"
    ]


def ers_fraction(scenario: Scenario, name: str) -> float:
    """Share of a class's vehicles that take power from the road (EV with receiver) [-]."""
    spec = scenario.vehicles[name]  # type: ignore[index]
    return spec.ev_share * spec.receiver_share


def expected_volume(
    scenario: Scenario, index: pd.DatetimeIndex, calendar: Calendar
) -> pd.DataFrame:
    """Expected vehicles entering the corridor per step, all vehicles, by class and direction.

    Parameters
    ----------
    scenario : Scenario
    index : DatetimeIndex
        Planning steps (tz-aware, 15 min).
    calendar : Calendar
        The steps' calendar: off days (weekends, public holidays) take the weekend shape.

    Returns
    -------
    DataFrame [veh/step]
        Columns ``<class>_<direction>`` (e.g. ``truck_A``); the weekly factors scale the daily
        volume.
    """
    traffic = scenario.traffic
    step_h = scenario.simulation.planning_step_min / 60.0
    weekly = np.asarray(traffic.weekly, dtype=np.float64)
    weekly = weekly / weekly.mean()
    weekday_shape = np.asarray(traffic.diurnal_weekday) / sum(traffic.diurnal_weekday)
    weekend_shape = np.asarray(traffic.diurnal_weekend) / sum(traffic.diurnal_weekend)
    hour = np.asarray(index.hour)
    daily = traffic.daily_volume * weekly[calendar.weekday]
    columns: dict[str, FloatArray] = {}
    for name in VEHICLE_CLASSES:
        spec = scenario.vehicles.get(name)  # type: ignore[call-overload]
        if spec is None:
            continue
        if spec.diurnal is not None:
            own = np.asarray(spec.diurnal) / sum(spec.diurnal)
            shape = own[hour]
        else:
            shape = np.where(calendar.off_day, weekend_shape[hour], weekday_shape[hour])
        per_step = daily * spec.share * shape * step_h
        columns[f"{name}_A"] = per_step * traffic.direction_a_share
        columns[f"{name}_B"] = per_step * (1.0 - traffic.direction_a_share)
    return pd.DataFrame(columns, index=index)


def ar1_log(rng: np.random.Generator, n: int, phi: float, std: float) -> FloatArray:
    """Multiplicative AR(1) day effect with mean 1 (log-normal, log std ``std``)."""
    out: FloatArray = np.exp(ar1(rng, n, phi, std) - 0.5 * std * std)
    return out


@lru_cache(maxsize=8)
def _year_effects(seed: int, timezone: str, step_min: int, year: int) -> pd.DataFrame:
    """Traffic day effects of one local calendar year, from the seed ``(seed, 5, year)``."""
    index = pd.date_range(
        pd.Timestamp(year=year, month=1, day=1).tz_localize(timezone),
        pd.Timestamp(year=year + 1, month=1, day=1).tz_localize(timezone),
        freq=f"{step_min}min",
        inclusive="left",
    )
    rng = np.random.default_rng([seed, 5, year])
    days = np.asarray(pd.Index(index.normalize()).factorize()[0])
    n_days = int(days.max()) + 1
    columns: dict[str, FloatArray] = {"fx:common": ar1_log(rng, n_days, 0.6, 0.045)[days]}
    for c, name in enumerate(VEHICLE_CLASSES):
        for d, tag in enumerate(("A", "B")):
            own_rng = np.random.default_rng([seed, 5, year, c, d])
            own = own_rng.lognormal(0.0, 0.02, n_days)[days]
            over = own_rng.lognormal(-0.5 * 0.05**2, 0.05, len(index))
            columns[f"fx:{name}_{tag}"] = own * over
    return pd.DataFrame(columns, index=index)


def _effects(scenario: Scenario, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Day and step effects on ``index``: the same values for the same step in any window."""
    years = range(index[0].year, index[-1].year + 1)
    step = scenario.simulation.planning_step_min
    full = pd.concat([_year_effects(scenario.seed, scenario.timezone, step, y) for y in years])
    take = full.index.get_indexer(index)
    if (take < 0).any():
        raise DataError(
            f"steps such as {index[take < 0][0]} are not on the scenario's {step}-min grid "
            "from midnight"
        )
    return full.iloc[take].set_axis(index)


def traffic_intensity(
    scenario: Scenario,
    index: pd.DatetimeIndex,
    calendar: Calendar,
    weather: Weather,
    expected: pd.DataFrame,
) -> pd.DataFrame:
    """Mean vehicles entering per step, shaped like real traffic [veh/step].

    Parameters
    ----------
    scenario : Scenario
    index : DatetimeIndex
        Planning steps, tz-aware, on the scenario's grid from local midnight.
    calendar : Calendar
    weather : Weather
        The world's weather on ``index``.
    expected : DataFrame [veh/step]
        :func:`expected_volume` on ``index``.

    Returns
    -------
    DataFrame [veh/step]
        Columns ``<class>_<direction>`` (the layout of ``expected``).
    """
    effects = _effects(scenario, index)
    periods = {p.code: p for ps in HOLIDAY_PERIODS.values() for p in ps}
    code = calendar.period_code
    hour = np.asarray(index.hour)
    wd = np.asarray(scenario.traffic.diurnal_weekday, dtype=np.float64)
    we = np.asarray(scenario.traffic.diurnal_weekend, dtype=np.float64)
    leisure_ratio = (we / we.sum()) / np.maximum(wd / wd.sum(), 1e-9)

    days = np.asarray(pd.Index(index.normalize()).factorize()[0])
    temp = weather.temp_air_c
    precip = weather.precip_mm_h
    step_h = scenario.simulation.planning_step_min / 60.0
    rain_day = pd.Series(precip).groupby(days).transform("sum").to_numpy() * step_h
    snow = temp < 0.5
    common = effects["fx:common"].to_numpy()

    out: dict[str, FloatArray] = {}
    for column in expected.columns:
        name = column.split("_")[0]
        truck = name == "truck"
        own_shape = scenario.vehicles[name].diurnal is not None  # type: ignore[index]
        lam = expected[column].to_numpy().copy()
        factor = np.ones(len(index))
        for c, period in periods.items():
            sel = code == c
            if not sel.any():
                continue
            factor[sel] *= period.truck_factor if truck else period.car_factor
            if period.leisure_shape and not own_shape:
                shift = sel & ~calendar.off_day
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
        step_effects = effects[f"fx:{column}"].to_numpy()
        out[column] = np.maximum(lam * factor * weather_factor * common * step_effects, 0.0)
    return pd.DataFrame(out, index=index)


def _keys(counts: TrafficCounts) -> set[tuple[int, int, int]]:
    return set(
        zip(
            counts.direction.tolist(), counts.vclass.tolist(), counts.interchange.tolist(),
            strict=True,
        )
    )  # fmt: skip


def check_counts(
    scenario: Scenario, counts: TrafficCounts, index: pd.DatetimeIndex, ic_names: list[str]
) -> None:
    """Check that measured counts can drive a run over ``index``.

    Every class of the scenario must be counted; every interval that overlaps the run must
    have a row for every (direction, class, interchange) the file counts anywhere; an entry
    interchange must have an exit downstream in its direction.

    Raises
    ------
    DataError
        Naming the file and what is missing (the interval, direction, class, interchange).
    """
    path = counts.path
    counted = {VEHICLE_CLASSES[c] for c in counts.vclass.tolist()}
    for name in scenario.vehicles:
        if name not in counted:
            raise DataError(
                f"{path}: class {name!r} is in the scenario's vehicles but has no counts; "
                "count it (rows with count 0 are fine) or remove it from vehicles"
            )
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(minutes=15)
    run_end = index[-1] + step
    anchor = counts.start[0]
    first = anchor + ((index[0] - anchor) // counts.interval) * counts.interval
    wanted = pd.date_range(first, run_end, freq=counts.interval, inclusive="left")
    wanted = wanted[wanted + counts.interval > index[0]]
    have = pd.DatetimeIndex(counts.start.unique())
    lacking = wanted[~wanted.isin(have)]
    if len(lacking):
        gap_start = lacking[0]
        gap_end = gap_start + counts.interval
        while gap_end in lacking:
            gap_end += counts.interval
        raise DataError(
            f"{path}: no counts for {gap_start} .. {gap_end}; the run needs "
            f"{index[0]} .. {run_end} (the file has {have[0]} .. {have[-1] + counts.interval})"
        )
    keys = _keys(counts)
    per_interval = pd.Series(1, index=counts.start).groupby(level=0).size()
    short = per_interval.loc[per_interval.index.isin(wanted)] < len(keys)
    if short.any():
        when = short.index[short.to_numpy()][0]
        rows = counts.start == when
        present = set(
            zip(
                counts.direction[rows].tolist(), counts.vclass[rows].tolist(),
                counts.interchange[rows].tolist(), strict=True,
            )
        )  # fmt: skip
        d, c, i = sorted(keys - present)[0]
        ic = f", interchange {ic_names[i]!r}" if i >= 0 else ""
        raise DataError(
            f"{path}: interval {when} has no row for direction {'AB'[d]}, class "
            f"{VEHICLE_CLASSES[c]}{ic}; every interval needs a row for each direction, class "
            "(and interchange) the file counts"
        )


def counts_per_step(
    scenario: Scenario, counts: TrafficCounts, index: pd.DatetimeIndex, ers_only: bool
) -> pd.DataFrame:
    """Counted vehicles per planning step by ``<class>_<direction>`` [veh/step].

    Intervals shorter than the step add up; a longer interval's count is spread evenly over
    the steps it spans (its vehicles enter at uniform times within it). Steps the file does not
    cover are NaN.

    Parameters
    ----------
    ers_only : bool
        The file counts ERS vehicles only; the columns are then all vehicles of the class
        (divided by its ERS share), as the history of every other source.
    """
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(minutes=15)
    columns = traffic_columns(scenario)
    out = pd.DataFrame(np.nan, index=index, columns=columns)
    starts = counts.start.tz_convert(index.tz)
    if counts.interval <= step:
        bucket = starts.floor(f"{round(step.total_seconds() / 60)}min")
        per_rows = np.ones(len(starts))
        spread = 1
    else:
        bucket = starts
        spread = int(counts.interval / step)
        per_rows = np.full(len(starts), 1.0 / spread)
    frame = pd.DataFrame(
        {
            "step": bucket,
            "column": [
                f"{VEHICLE_CLASSES[c]}_{'AB'[d]}"
                for c, d in zip(counts.vclass.tolist(), counts.direction.tolist(), strict=True)
            ],
            "count": counts.count * per_rows,
        }
    )
    table = frame.groupby(["step", "column"])["count"].sum().unstack("column")
    # a step is known only when every row of every interval in it is there
    rows_needed = len(_keys(counts)) * max(1, int(step / counts.interval))
    complete = frame.groupby("step").size().reindex(table.index) >= rows_needed
    table = table.loc[complete.to_numpy()]
    covered = pd.DatetimeIndex(table.index)
    if spread > 1:
        parts = [table.set_axis(covered + k * step) for k in range(spread)]
        table = pd.concat(parts).sort_index()
        covered = pd.DatetimeIndex(table.index)
    inside = covered.isin(index)
    table = table.loc[inside]
    for column in columns:
        if column in table.columns:
            out.loc[pd.DatetimeIndex(table.index), column] = table[column].fillna(0.0).to_numpy()
        else:
            rows = out.index.isin(table.index)
            out.loc[rows, column] = 0.0
    if ers_only:
        for column in columns:
            share = ers_fraction(scenario, column.split("_")[0])
            out[column] = out[column] / share if share > 0 else np.nan
    return out
