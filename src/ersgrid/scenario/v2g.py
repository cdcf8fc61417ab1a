"""V2G settings: battery wear priced per kWh cycled, and vehicles parked at service areas.

Sources:

- Wear: an automotive lithium-ion pack of about USD 100/kWh lasting about 3,000 equivalent
  full cycles at 80 % depth of discharge costs USD 100 / (3,000 × 0.8) ≈ USD 0.04 per kWh
  cycled [U, from BNEF's 2023 pack price survey (USD 139/kWh, falling) and typical LFP/NMC
  cycle-life ratings]; consistent with DTU's field finding of +1–2 % capacity loss over five
  years of V2G frequency regulation [V, Thingvad et al. 2020].
- Breaks: EU Regulation 561/2006 requires 45 min of break after 4.5 h of driving [V]; Japan's
  "430 rule" requires 30 min per 4 h for truck drivers [V/W].
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ersgrid.scenario.base import SpecModel

__all__ = ["REFERENCE_WEAR_USD_PER_KWH", "USD_RATES", "ParkingSpec", "V2GSpec", "wear_cost"]

REFERENCE_WEAR_USD_PER_KWH = 0.04
"""Battery wear per kWh cycled, before conversion to the scenario currency [USD/kWh]."""

USD_RATES = {"USD": 1.0, "JPY": 150.0, "EUR": 0.92, "SEK": 10.5, "CNY": 7.2}
"""Fixed reference rates [currency per USD] used only to convert the wear default."""


class ParkingSpec(SpecModel):
    """Vehicles that stop at service areas with V2G chargers and plug in for their break."""

    stop_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.08,
        description="Share of passing V2G vehicles of the classes below that stop and plug in [-].",
    )
    classes: list[Literal["car", "bus", "truck"]] = Field(
        default=["truck", "bus"], description="Classes that take breaks here."
    )
    dwell_mean_min: Annotated[float, Field(gt=0.0, le=720.0)] = Field(
        default=45.0, description="Mean dwell time (EU 561/2006 break: 45 min) [min]."
    )
    dwell_std_min: Annotated[float, Field(ge=0.0, le=240.0)] = Field(
        default=15.0, description="Standard deviation of the dwell time [min]."
    )
    min_soc: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.5, description="State of charge a parked vehicle keeps for its onward trip [-]."
    )


class V2GSpec(SpecModel):
    """How V2G is priced and who takes part."""

    degradation_cost_per_kwh: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None,
        description="Battery wear per kWh discharged [currency/kWh]; None: USD 0.04 converted.",
    )
    parking: ParkingSpec = Field(default_factory=ParkingSpec, description="Parked vehicles.")


def wear_cost(spec: V2GSpec, currency: str) -> float:
    """Battery wear per kWh discharged in the scenario currency [currency/kWh]."""
    if spec.degradation_cost_per_kwh is not None:
        return spec.degradation_cost_per_kwh
    return REFERENCE_WEAR_USD_PER_KWH * USD_RATES[currency]
