"""Daily time windows with a price: the building block of time-of-use tariffs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, field_validator

from ersgrid.scenario.base import SpecModel

__all__ = ["TariffWindow"]

NonNegativeFloat = Annotated[float, Field(ge=0.0)]


class TariffWindow(SpecModel):
    """A daily time window with its own energy price (e.g. the night hours of a TOU tariff)."""

    name: str = Field(description="Label, e.g. night or peak.")
    start: dt.time = Field(description="Local start time, HH:MM.")
    end: dt.time = Field(description="Local end time, HH:MM; may wrap past midnight.")
    price_per_kwh: NonNegativeFloat = Field(
        description="Energy price in the window [currency/kWh]."
    )
    weekdays_only: bool = Field(default=False, description="Apply only Monday to Friday.")

    @field_validator("start", "end")
    @classmethod
    def _quarter_hours(cls, value: dt.time) -> dt.time:
        if value.minute % 15 or value.second:
            raise ValueError("tariff windows start and end on a quarter hour")
        return value
