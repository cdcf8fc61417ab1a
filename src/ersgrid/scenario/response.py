"""How drivers and fleets answer prices: the ``response`` section of a scenario.

A documented, deliberately simple response model so that tariff designs can be compared:

- **Trip shifting**: a share of each class's trips is flexible (a haulier can move a
  departure by a few hours). A flexible trip in an hour whose user price is above the cheapest
  hour within ``shift_max_h`` moves there with probability
  ``min(1, shift_elasticity × (p_hour − p_best) / p_hour)``.
- **V2G opt-in**: of the V2G-capable vehicles (``v2g_share`` of each class), the share that
  takes part at a payment ``p`` per kWh discharged is ``p / (p + half_payment)`` — a
  saturating curve with half the owners in at ``half_payment``. Without a half-payment every
  capable vehicle takes part.

Defaults are study assumptions [U]; a survey of the fleets using a corridor should replace
them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ersgrid.scenario.base import SpecModel
from ersgrid.scenario.windows import TariffWindow

__all__ = ["ResponseSpec"]


class ResponseSpec(SpecModel):
    """Price response of the corridor's users."""

    user_windows: list[TariffWindow] = Field(
        default_factory=list,
        description="Time-of-use windows of the price users pay (tariff.user_price_per_kwh "
        "elsewhere); later entries win on overlap.",
    )
    flexible_share: dict[
        Literal["car", "bus", "truck"], Annotated[float, Field(ge=0.0, le=1.0)]
    ] = Field(
        default={"truck": 0.10, "car": 0.05, "bus": 0.0},
        description="Share of each class's trips that can move in time [-] [U].",
    )
    shift_max_h: Annotated[int, Field(ge=0, le=12)] = Field(
        default=3, description="Furthest a flexible trip moves [h]."
    )
    shift_elasticity: Annotated[float, Field(ge=0.0, le=20.0)] = Field(
        default=2.0, description="Shift probability per relative price saving [-] [U]."
    )
    v2g_payment_per_kwh: Annotated[float, Field(ge=0.0)] = Field(
        default=0.0,
        description="Paid to vehicle owners per kWh their batteries return [currency/kWh].",
    )
    v2g_half_payment_per_kwh: Annotated[float, Field(gt=0.0)] | None = Field(
        default=None,
        description="Payment at which half the V2G-capable owners opt in [currency/kWh]; "
        "None: all capable vehicles take part.",
    )
