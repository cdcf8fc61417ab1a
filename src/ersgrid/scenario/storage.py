"""Stationary batteries at substations: the ``storage`` section of a scenario.

Sources of the defaults:

- Round-trip efficiency 85 % (AC to AC) for utility-scale lithium-ion storage, NREL Annual
  Technology Baseline 2023, "Utility-Scale Battery Storage" [V]; split evenly into a charge
  and a discharge efficiency of sqrt(0.85) = 0.922 each.
- Usable state-of-charge window 5–95 % [U]: a common warranty window for LFP systems.

Sizes and the degradation cost depend on the site and the currency and have no default.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = ["ROUND_TRIP_EFFICIENCY", "StorageSpec"]

ROUND_TRIP_EFFICIENCY = 0.85
"""NREL ATB 2023 round-trip efficiency of utility-scale lithium-ion storage [-]."""

_ONE_WAY = round(ROUND_TRIP_EFFICIENCY**0.5, 4)


class StorageSpec(SpecModel):
    """Stationary batteries at substations, one unit per substation listed (or at every one).

    Power is counted at the grid connection (AC side): a unit charging at ``power_kw`` draws
    ``power_kw`` from the substation's bus and stores ``power_kw * charge_efficiency``.
    """

    energy_kwh: Annotated[float, Field(ge=0.0)] = Field(
        description="Energy capacity of each unit (nameplate) [kWh]."
    )
    power_kw: Annotated[float, Field(ge=0.0)] = Field(
        description="Charge and discharge power limit of each unit, AC side [kW]."
    )
    substations: list[str] | None = Field(
        default=None,
        description="Ids of the substations that have a unit; every substation if omitted.",
    )
    charge_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=_ONE_WAY,
        description="AC-to-stored efficiency [-] (NREL ATB 2023: 85 % round trip).",
    )
    discharge_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=_ONE_WAY,
        description="Stored-to-AC efficiency [-] (NREL ATB 2023: 85 % round trip).",
    )
    soc_min: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.05, description="Lowest allowed state of charge [-]."
    )
    soc_max: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.95, description="Highest allowed state of charge [-]."
    )
    soc_initial: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.5, description="State of charge at the start of a run [-]."
    )
    degradation_cost_per_kwh: Annotated[float, Field(ge=0.0)] = Field(
        description=(
            "Wear cost per kWh discharged (AC side) [currency/kWh], e.g. capital cost per kWh "
            "over the cycle life."
        )
    )
    may_export: bool = Field(
        default=False,
        description=(
            "Whether the batteries may feed back through the connection; off by default, as "
            "grid codes commonly forbid reverse flow from storage (e.g. Japan's FIT rules) [-]."
        ),
    )
    source: str = Field(default="", description="Where the sizes and costs come from.")

    @model_validator(mode="after")
    def _window(self) -> StorageSpec:
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError("storage needs soc_min <= soc_initial <= soc_max")
        return self
