"""Time at the edges: tz-aware planning-step indices in the scenario's own time zone."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ersgrid.errors import ScenarioError
from ersgrid.scenario.schema import Scenario

__all__ = ["PLANNING_STEP_H", "planning_index"]

PLANNING_STEP_H = 0.25
"""Length of the planning step [h] (15 min)."""


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
    steps = days * 24 * 60 / scenario.simulation.planning_step_min
    if days <= 0 or abs(steps - round(steps)) > 1e-9:
        raise ScenarioError(f"days = {days}: a run covers a positive whole number of 15-min steps")
    first = pd.Timestamp(start or scenario.simulation.start).tz_localize(scenario.timezone)
    return pd.date_range(
        first, periods=round(steps), freq=f"{scenario.simulation.planning_step_min}min"
    )
