"""The ``economics:`` section of a scenario: what the road's assets cost, how long they last,
and how a run stands for a year.

Capital and O&M figures are in ``cost_currency`` (USD by default: most published ERS figures
are), turned into the scenario's currency with ``exchange_rate`` once, where the economics are
computed. The quantities they multiply come from the scenario itself: electrified lane-km per
technology, substation ratings, connection import limits, storage units, PV peak power, wind
turbines and the receiver-fitted vehicles of the traffic. The defaults are sourced in
``docs/economics.md`` and beside each figure of the built-in scenarios.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = [
    "ASSETS",
    "AnnualiseSpec",
    "AssetCostSpec",
    "EconomicsSpec",
    "ReceiverCostSpec",
]

ASSETS: tuple[str, ...] = (
    "inductive", "conductive_rail", "catenary", "substations", "grid_connection",
    "storage", "pv", "wind", "receivers",
)  # fmt: skip
"""Asset groups of the economics, in the order they are reported."""

NonNegativeFloat = Annotated[float, Field(ge=0.0)]
Lifetime = Annotated[float, Field(gt=0.0, le=100.0)]


class AssetCostSpec(SpecModel):
    """Operation and maintenance share and lifetime of one asset group."""

    om_share_per_year: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        description="O&M per year as a share of the group's capital cost [1/a]."
    )
    lifetime_years: Lifetime = Field(description="Economic lifetime [a].")


class ReceiverCostSpec(SpecModel):
    """Capital cost of the ERS receiver (pick-up or pantograph) fitted to one vehicle, by class."""

    car: NonNegativeFloat = Field(default=1_000.0, description="Per car [cost_currency].")
    bus: NonNegativeFloat = Field(default=3_000.0, description="Per bus [cost_currency].")
    truck: NonNegativeFloat = Field(default=5_000.0, description="Per truck [cost_currency].")


def _life(om: float, years: float) -> AssetCostSpec:
    return AssetCostSpec(om_share_per_year=om, lifetime_years=years)


class AnnualiseSpec(SpecModel):
    """How the days of a run stand for a year of operation.

    Without ``day_weights`` every figure of the run is scaled by ``days_per_year / days``.
    With them, day ``d`` of the run stands for ``day_weights[d]`` days of the year
    (representative days): each money stream of the settlement is summed day by day with its
    weight, and a run total without a daily split (the demand charge, V2G wear) is scaled by
    the mean weight.
    """

    days_per_year: Annotated[float, Field(gt=0.0, le=366.0)] = Field(
        default=365.0, description="Operating days in a year [d/a]."
    )
    day_weights: list[NonNegativeFloat] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Days of the year each whole day of the run stands for [d/a], one per day of the "
            "run; they must sum to days_per_year."
        ),
    )

    @model_validator(mode="after")
    def _weights_sum(self) -> AnnualiseSpec:
        if self.day_weights is not None:
            total = sum(self.day_weights)
            if abs(total - self.days_per_year) > 1e-6 * self.days_per_year:
                raise ValueError(
                    f"economics.annualise.day_weights sum to {total:g}, not days_per_year "
                    f"({self.days_per_year:g})"
                )
        return self


class EconomicsSpec(SpecModel):
    """Capital cost, O&M and lifetime per asset, the discount rate, horizon and year scaling.

    The defaults are the sourced estimates of ``docs/economics.md`` in USD; a scenario in
    another currency gives ``exchange_rate``.
    """

    cost_currency: Literal["JPY", "EUR", "USD", "SEK", "CNY"] = Field(
        default="USD", description="Currency of every capital cost of this section."
    )
    exchange_rate: Annotated[float, Field(gt=0.0)] | None = Field(
        default=None,
        description=(
            "Units of the scenario's currency per unit of cost_currency [-]; needed when they "
            "differ (e.g. 150 JPY per USD)."
        ),
    )
    inductive_per_lane_km: NonNegativeFloat = Field(
        default=745_000.0,
        description="Inductive coils, power units and installation per lane-km [cost_currency/km].",
    )
    conductive_rail_per_lane_km: NonNegativeFloat = Field(
        default=1_000_000.0,
        description="Conductive road rail and its power units per lane-km [cost_currency/km].",
    )
    catenary_per_lane_km: NonNegativeFloat = Field(
        default=1_200_000.0,
        description="Overhead catenary (poles, wires) per lane-km [cost_currency/km].",
    )
    road_om_per_lane_km_per_year: NonNegativeFloat = Field(
        default=0.0,
        description="O&M of the electrified lanes per lane-km and year, beside their share "
        "[cost_currency/km/a].",
    )
    substation_per_mw: NonNegativeFloat = Field(
        default=250_000.0,
        description="Substation (transformer, rectifier, switchgear) per MW of rating "
        "[cost_currency/MW].",
    )
    grid_connection_per_kw: NonNegativeFloat = Field(
        default=100.0,
        description="Grid connection (line, contract contribution) per kW of import limit; "
        "substation rating where no limit is given [cost_currency/kW].",
    )
    storage_per_kwh: NonNegativeFloat = Field(
        default=200.0, description="Stationary battery energy part [cost_currency/kWh]."
    )
    storage_per_kw: NonNegativeFloat = Field(
        default=100.0, description="Stationary battery power part (inverter) [cost_currency/kW]."
    )
    pv_per_kwp: NonNegativeFloat = Field(
        default=1_000.0, description="PV installed per kWp [cost_currency/kWp]."
    )
    wind_per_kw: NonNegativeFloat = Field(
        default=1_200.0, description="Wind installed per kW of turbine rating [cost_currency/kW]."
    )
    receiver_per_vehicle: ReceiverCostSpec = Field(
        default_factory=ReceiverCostSpec, description="Receiver per vehicle, by class."
    )
    corridor_trips_per_receiver_per_day: Annotated[float, Field(gt=0.0)] = Field(
        default=1.0,
        description=(
            "Trips a receiver-fitted vehicle makes on the corridor per day [1/d]: receivers "
            "counted = ERS trips per day / this."
        ),
    )
    receivers_paid_by: Literal["vehicle_owner", "automaker", "road_operator"] = Field(
        default="vehicle_owner", description="Party that carries the receivers' capital."
    )
    road: AssetCostSpec = Field(
        default_factory=lambda: _life(0.01, 25.0),
        description="Electrified lanes (every technology): O&M share and lifetime.",
    )
    substations: AssetCostSpec = Field(
        default_factory=lambda: _life(0.015, 30.0),
        description="Substations: O&M share and lifetime.",
    )
    grid_connection: AssetCostSpec = Field(
        default_factory=lambda: _life(0.005, 40.0),
        description="Grid connections: O&M share and lifetime.",
    )
    storage: AssetCostSpec = Field(
        default_factory=lambda: _life(0.02, 15.0),
        description="Stationary batteries: O&M share and lifetime.",
    )
    pv: AssetCostSpec = Field(
        default_factory=lambda: _life(0.015, 25.0), description="PV: O&M share and lifetime."
    )
    wind: AssetCostSpec = Field(
        default_factory=lambda: _life(0.03, 25.0), description="Wind: O&M share and lifetime."
    )
    receivers: AssetCostSpec = Field(
        default_factory=lambda: _life(0.0, 10.0), description="Receivers: O&M share and lifetime."
    )
    discount_rate: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        default=0.05, description="Real discount rate [1/a]."
    )
    horizon_years: Annotated[int, Field(ge=1, le=100)] = Field(
        default=25, description="Analysis horizon of NPV, IRR and payback [a]."
    )
    annualise: AnnualiseSpec = Field(
        default_factory=AnnualiseSpec, description="How the run stands for a year."
    )
    source: str = Field(default="", description="Where the figures come from.")
