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

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = [
    "ASSETS",
    "COUNTERFACTUAL_KPIS",
    "COUNTERFACTUAL_OPTIONS",
    "DIESEL_PRICE_PER_L",
    "FAST_CHARGE_PRICE_PER_KWH",
    "AnnualiseSpec",
    "AssetCostSpec",
    "CounterfactualSpec",
    "DieselUseSpec",
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


COUNTERFACTUAL_OPTIONS: dict[str, str] = {
    "road": "Electric road",
    "depot": "Depot, overnight",
    "fast_charging": "Public fast charging",
    "diesel": "Diesel",
}
"""The road and its counterfactuals, in the order they are reported, with their labels."""

COUNTERFACTUAL_KPIS: tuple[str, ...] = tuple(
    f"{q}_{o}" for q in ("cost_per_kwh", "co2_kg_per_vkm") for o in COUNTERFACTUAL_OPTIONS
)
"""The KPIs a run's economics add per option: cost per kWh and CO2 per vehicle-km."""

FAST_CHARGE_PRICE_PER_KWH: dict[str, float] = {
    # [W] e-Mobility Power members: 27.5 JPY/min at a fast charger (evstand.net, 2024); at the
    # ~30 kW a 50 kW CHAdeMO charger delivers on average over a 30-min session [U] that is
    # 27.5 × 60 / 30 = 55 JPY/kWh, before the 4,180 JPY monthly fee. eMP's kWh-billing trial
    # (Oct 2024 – Mar 2025, visitors) charged 154 JPY/kWh (EVsmart blog 2025): higher still.
    "JPY": 55.0,
    # [W] IONITY Direct (ad hoc, no subscription) in Germany and Austria: 0.69 EUR/kWh since
    # August 2023, VAT included (electrive.net, 27 May 2024).
    "EUR": 0.69,
}
"""Public fast-charging price by the scenario's currency [currency/kWh], where a sourced
figure exists; another currency gives ``counterfactuals.fast_charge_price_per_kwh``."""

DIESEL_PRICE_PER_L: dict[str, float] = {
    # [W] Agency for Natural Resources and Energy retail survey: national average of light
    # oil (軽油) 164.6 JPY/L on 31 March 2025, taxes included (trucknews.biz, 3 April 2025).
    "JPY": 165.0,
    # [W] EU Weekly Oil Bulletin: automotive gas oil ~1.6-1.7 EUR/L across the EU in 2024,
    # taxes included; [U] 1.65.
    "EUR": 1.65,
}
"""Diesel pump price by the scenario's currency [currency/L]; another currency gives
``counterfactuals.diesel_price_per_l``."""


class DieselUseSpec(SpecModel):
    """Fuel use of the diesel vehicle each class would be, on the corridor's roads.

    Sources: [W] a loaded 40 t tractor-trailer uses 30-40 L/100 km (trade press), 30 L/100 km
    at 40 t on flat roads at legal speed (IFRTT forum, 2010): 32 for an expressway truck
    [U]; a highway coach 25-30 L/100 km [U]: 28; a diesel car on the expressway 6 [U].
    """

    car: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        default=6.0, description="Per car [L/100 km]."
    )
    bus: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        default=28.0, description="Per bus or coach [L/100 km]."
    )
    truck: Annotated[float, Field(gt=0.0, le=100.0)] = Field(
        default=32.0, description="Per heavy truck [L/100 km]."
    )


class CounterfactualSpec(SpecModel):
    """What the road's vehicles would pay and emit without it: the same energy charged at
    depots overnight or at public fast chargers, or the same trips on diesel.

    Money figures are in the scenario's currency except ``depot_charger_per_kw``, which is a
    capital cost in ``economics.cost_currency`` like the assets'.
    """

    depot_window_start: dt.time | None = Field(
        default=None,
        description=(
            "Local start of the depot's overnight charging; with depot_window_end. None: the "
            "tariff's cheapest window (22:00-06:00 when the tariff has none)."
        ),
    )
    depot_window_end: dt.time | None = Field(
        default=None, description="Local end of the depot's overnight charging (may wrap)."
    )
    depot_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.92,
        description=(
            "Depot charger, grid to battery [-]: [W] DC charger conversion ~95 % (vendor "
            "data sheets, e.g. ABB Terra 184) less ~3 % battery charging loss [U]."
        ),
    )
    depot_charger_per_kw: Annotated[float, Field(ge=0.0)] = Field(
        default=500.0,
        description=(
            "Depot chargers installed, per kW of charger power [cost_currency/kW]: [U] "
            "50-150 kW DC units with installation, the order of the depot figures of ICCT "
            "(Hall & Lutsey 2019, infrastructure for zero-emission trucks)."
        ),
    )
    depot_charger_load_factor: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.6,
        description=(
            "Mean charging power over the window as a share of the chargers' power [-]: "
            "installed kW = nightly grid energy / window hours / this [U]."
        ),
    )
    depot_charger: AssetCostSpec = Field(
        default_factory=lambda: AssetCostSpec(om_share_per_year=0.03, lifetime_years=10.0),
        description="Depot chargers: O&M share and lifetime [U].",
    )
    fast_charge_price_per_kwh: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None,
        description=(
            "Public fast-charging price per kWh charged [currency/kWh]; None: the sourced "
            "figure for the scenario's currency (JPY 55, EUR 0.69)."
        ),
    )
    fast_charge_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.92,
        description="Public fast charger, grid to battery [-] (as depot_efficiency).",
    )
    diesel_l_per_100km: DieselUseSpec = Field(
        default_factory=DieselUseSpec, description="Diesel fuel use by class [L/100 km]."
    )
    diesel_price_per_l: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None,
        description=(
            "Diesel price [currency/L]; None: the sourced figure for the scenario's currency "
            "(JPY 165, EUR 1.65)."
        ),
    )
    diesel_co2_kg_per_l: Annotated[float, Field(gt=0.0, le=5.0)] = Field(
        default=3.197,
        description=(
            "Well-to-wheel CO2 of diesel [kg CO2e/L]: [V] UK DESNZ/DEFRA conversion factors "
            "2025, road diesel (B7) 2.571 tank-to-wheel + 0.627 well-to-tank."
        ),
    )

    @model_validator(mode="after")
    def _window(self) -> CounterfactualSpec:
        if (self.depot_window_start is None) != (self.depot_window_end is None):
            raise ValueError(
                "economics.counterfactuals: give both depot_window_start and depot_window_end, "
                "or neither"
            )
        if self.depot_window_start is not None and self.depot_window_start == self.depot_window_end:
            raise ValueError("economics.counterfactuals.depot_window_end: the window is empty")
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
    counterfactuals: CounterfactualSpec = Field(
        default_factory=CounterfactualSpec,
        description="Depot, public fast charging and diesel, set against the road.",
    )
    source: str = Field(default="", description="Where the figures come from.")
