"""The ``settlement:`` section of a scenario: who the parties are and how money flows between them.

What vehicles pay per kWh is ``tariff.user_price_per_kwh`` and what the retailer charges per kWh is
the tariff's time-of-use price; this section adds the rest of the rules: network fees, V2G
payments, the local plants' price and how the road operator's margin is shared among partners.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = ["PARTNER_ROLES", "ROLES", "PartiesSpec", "Partner", "SettlementSpec"]

ROLES: tuple[str, ...] = (
    "road_operator", "retailer", "grid_operator", "renewable_owner", "automaker",
)  # fmt: skip
"""Roles of the settlement parties besides the vehicle owners."""

PARTNER_ROLES: tuple[str, ...] = ("road_operator", "retailer", "renewable_owner", "automaker")
"""Roles that may share the road operator's margin (the joint benefit of the road)."""

Partner = Literal["road_operator", "retailer", "renewable_owner", "automaker"]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]


def _default_shares() -> dict[Partner, float]:
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
    values, or among the partners of ``computed_shares`` by the shares a coalition study
    measured from runs (``ersgrid coalitions``).
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
    benefit_sharing: Literal["fixed", "shapley", "computed"] = Field(
        default="fixed",
        description=(
            "Share the road operator's margin by fixed shares, by Shapley values of the "
            "closed-form game, or by computed_shares (measured from coalition runs)."
        ),
    )
    shares: dict[Partner, Fraction] = Field(
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
    computed_shares: dict[Partner, float] | None = Field(
        default=None,
        description=(
            "computed: each partner's share of the margin [-] as a coalition study measured "
            "it (`ersgrid coalitions` writes them in coalitions.json); sum 1, road_operator "
            "required. A share may lie outside 0..1 when a partner's worth does."
        ),
    )
    parties: PartiesSpec = Field(default_factory=PartiesSpec, description="Party names.")

    @property
    def partners(self) -> tuple[str, ...]:
        """The partners that share the margin under ``benefit_sharing``, sorted."""
        if self.benefit_sharing == "computed" and self.computed_shares is not None:
            return tuple(sorted(self.computed_shares))
        return tuple(sorted(self.shares))

    @model_validator(mode="after")
    def _shares(self) -> SettlementSpec:
        if "road_operator" not in self.shares:
            raise ValueError("settlement.shares must include road_operator")
        total = sum(self.shares.values())
        if self.benefit_sharing == "fixed" and abs(total - 1.0) > 1e-9:
            raise ValueError(f"settlement.shares must sum to 1, got {total:g}")
        computed = self.computed_shares
        if self.benefit_sharing == "computed":
            if computed is None:
                raise ValueError(
                    "settlement.computed_shares: benefit_sharing 'computed' needs the shares; "
                    "copy them from the `settlement` entry of coalitions.json "
                    "(`ersgrid coalitions SCENARIO`)"
                )
            if "road_operator" not in computed:
                raise ValueError("settlement.computed_shares must include road_operator")
            if not all(math.isfinite(v) for v in computed.values()):
                raise ValueError("settlement.computed_shares: every share must be finite")
            total = sum(computed.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"settlement.computed_shares must sum to 1, got {total:g}")
        elif computed is not None:
            raise ValueError(
                "settlement.computed_shares is read only with benefit_sharing: computed; "
                "set benefit_sharing: computed or remove computed_shares"
            )
        return self
