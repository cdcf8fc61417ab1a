"""Time at the edges: tz-aware planning-step indices in the scenario's own time zone."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import ScenarioError
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario, check_run_year

__all__ = [
    "MAX_RUN_DAYS",
    "MAX_RUN_VEHICLES",
    "PLANNING_STEP_H",
    "SLOWEST_SPEED_SHARE",
    "check_run",
    "planning_index",
    "planning_step_of",
    "warmup_steps",
]

PLANNING_STEP_H = 0.25
"""Length of the planning step [h] (15 min)."""

MAX_RUN_DAYS = 3660
"""Longest run [d]: ten years (a longer study is a sweep of runs, or runs chained)."""

MAX_RUN_VEHICLES = 30_000_000
"""Most ERS vehicles one run may draw [-] (about 3 GB of vehicle and pass records)."""


SLOWEST_SPEED_SHARE = 0.6
"""Lowest cruising speed drawn for a vehicle, as a share of its class's mean [-] (the
arrivals' truncation)."""


def warmup_steps(scenario: Scenario) -> int:
    """Planning steps the twin runs before a run's start (``simulation.warmup_h``) [-].

    Without ``warmup_h``: the longest trip on the corridor, its length at the slowest
    class's lowest speed (:data:`SLOWEST_SPEED_SHARE` of its mean), rounded up to whole
    planning steps, so every vehicle on the road at the start entered during the warm-up.
    """
    step_h = scenario.simulation.planning_step_min / 60.0
    hours = scenario.simulation.warmup_h
    if hours is None:
        slowest_kmh = min(spec.speed.mean_kmh for spec in scenario.vehicles.values())
        hours = scenario.road.length_km / (SLOWEST_SPEED_SHARE * slowest_kmh)
    return math.ceil(hours / step_h - 1e-9)


def check_run(scenario: Scenario, days: float, start: dt.date | None = None) -> None:
    """Refuse a run that passes the schema but cannot be simulated, before anything runs.

    Raises
    ------
    ScenarioError
        Naming the value and the rule: a length outside 15 min .. :data:`MAX_RUN_DAYS`, a
        window outside the calendar's years, or more ERS vehicles than :data:`MAX_RUN_VEHICLES`.
    """
    if not math.isfinite(days) or days <= 0:
        raise ScenarioError(f"days = {days}: a run covers a positive whole number of 15-min steps")
    if days > MAX_RUN_DAYS:
        raise ScenarioError(
            f"days = {days:g}: a run covers at most {MAX_RUN_DAYS} days (ten years); run a "
            "longer study as consecutive runs"
        )
    first = start or scenario.simulation.start
    try:
        check_run_year(first, "start")
        check_run_year(first + dt.timedelta(days=math.ceil(days)), "the run's end")
    except ValueError as err:
        raise ScenarioError(str(err)) from None
    ers_per_day = sum(
        scenario.traffic.daily_volume * spec.share * spec.ev_share * spec.receiver_share
        for name, spec in scenario.vehicles.items()
        if name in VEHICLE_CLASSES
    )
    if ers_per_day * days > MAX_RUN_VEHICLES:
        raise ScenarioError(
            f"traffic.daily_volume = {scenario.traffic.daily_volume:,.0f} over {days:g} days "
            f"brings about {ers_per_day * days:,.0f} ERS vehicles, more than one run holds "
            f"({MAX_RUN_VEHICLES:,}); run fewer days at a time"
        )


def planning_index(
    scenario: Scenario, days: float, start: dt.date | None = None
) -> pd.DatetimeIndex:
    """Planning steps (15 min) of a run, tz-aware in the scenario's time zone.

    Parameters
    ----------
    scenario : Scenario
    days : float [d]
        Length of the run; must cover a whole number of planning steps.
    start : date, optional
        First local day; the scenario's ``simulation.start`` by default.
    """
    check_run(scenario, days, start)
    steps = days * 24 * 60 / scenario.simulation.planning_step_min
    if abs(steps - round(steps)) > 1e-9:
        raise ScenarioError(f"days = {days}: a run covers a positive whole number of 15-min steps")
    first = pd.Timestamp(start or scenario.simulation.start).tz_localize(scenario.timezone)
    return pd.date_range(
        first, periods=round(steps), freq=f"{scenario.simulation.planning_step_min}min"
    )


def planning_step_of(
    end_ms: npt.NDArray[np.int64], start_ms: int, step_ms: int, n_steps: int
) -> npt.NDArray[np.int64]:
    """The planning step a metering that ends at ``end_ms`` [unix ms] belongs to: the step it
    ends in (a metering that ends on a step's boundary belongs to the next step), within
    ``0 .. n_steps - 1``. The KPIs and the ledger's settlement price every metering at the
    prices of this step."""
    k = (np.asarray(end_ms, dtype=np.int64) - int(start_ms)) // int(step_ms)
    return np.clip(k, 0, n_steps - 1)
