"""The ``settlement:`` section of a scenario: who the parties are and how money flows between them.

What vehicles pay per kWh is ``tariff.user_price_per_kwh`` and what the retailer charges per kWh is
the tariff's time-of-use price; this section adds the rest of the rules: network fees, V2G
payments, the local plants' price and how the road operator's margin is shared among partners.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = ["PARTNER_ROLES", "ROLES", "PartiesSpec", "SettlementSpec"]

ROLES: tuple[str, ...] = (
    "road_operator", "retailer", "grid_operator", "renewable_owner", "automaker",
)  # fmt: skip
"""Roles of the settlement parties besides the vehicle owners."""

PARTNER_ROLES: tuple[str, ...] = ("road_operator", "retailer", "automaker")
"""Roles that may share the road operator's margin (the joint benefit of the road)."""

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]


def _default_shares() -> dict[Literal["road_operator", "retailer", "automaker"], float]:
    return {"road_operator": 1.0}


class PartiesSpec(SpecModel):
    """Names of the parties that appear on the statements (vehicle owners stay pseudonymous)."""

    road_operator: str = Field(default="Road operator", description="Runs the road's power units.")
    retailer: str = Field(default="Energy retailer", description="Sells grid energy to the road.")
    grid_operator: str = Field(default="Grid operator", description="Receives the network fees.")
    renewable_owner: str = Field(
        default="PV and wind owner", description="Sells the local plants' output to the road."
    )
    automaker: str = Field(default="Automaker", description="Fits and integrates the receivers.")


class SettlementSpec(SpecModel):
    """Settlement rules: periods, the local plants' price and the sharing of the road's margin.

    Every line is priced as the run's KPIs price it, from the same meters: owners pay the user
    price per kWh into their battery to the road operator and are refunded it, with the V2G
    payment (``response.v2g_payment_per_kwh``), per kWh their battery returns; the road
    operator pays for what each connection's meter imported at the run's grid price per step
    (the retailer gets it less ``prices.network_fee_per_kwh``, which goes to the grid
    operator), is paid the export price for what the meter exported, and pays the owner of the
    local PV and wind ``ppa_price_per_kwh`` for what they delivered. The rest, the margin, is
    shared among the partners named in ``shares``, by those fixed shares or by their Shapley
    values.
    """

    period: Literal["hour", "day"] = Field(
        default="hour",
        description=("Settlement period and pseudonym rotation: one local hour or one local day."),
    )
    ppa_price_per_kwh: NonNegativeFloat = Field(
        default=0.0,
        description=(
            "Price the road operator pays the owner of the local PV and wind per kWh they "
            "deliver (not curtailed) [currency/kWh]; 0: the plants are the road operator's own."
        ),
    )
    benefit_sharing: Literal["fixed", "shapley"] = Field(
        default="fixed",
        description="Share the road operator's margin by fixed shares or by Shapley values.",
    )
    shares: dict[Literal["road_operator", "retailer", "automaker"], Fraction] = Field(
        default_factory=_default_shares,
        description=(
            "Partners of the margin and their fixed shares [-] (sum 1; road_operator required); "
            "with shapley only the keys count."
        ),
    )
    reference_price_per_kwh: NonNegativeFloat | None = Field(
        default=None,
        description=(
            "Shapley: price the road would pay per grid-side kWh without the retailer's "
            "partnership tariff [currency/kWh]; the tariff's highest price if omitted."
        ),
    )
    sold_share_without_automaker: Fraction = Field(
        default=0.5,
        description=(
            "Shapley: share of the energy the road still sells without the automaker's "
            "receiver integration [-]."
        ),
    )
    parties: PartiesSpec = Field(default_factory=PartiesSpec, description="Party names.")

    @model_validator(mode="after")
    def _shares(self) -> SettlementSpec:
        if "road_operator" not in self.shares:
            raise ValueError("settlement.shares must include road_operator")
        total = sum(self.shares.values())
        if self.benefit_sharing == "fixed" and abs(total - 1.0) > 1e-9:
            raise ValueError(f"settlement.shares must sum to 1, got {total:g}")
        return self
