"""The one objective every strategy is measured on, shared by the planner and the KPIs.

``objective = Σ Δ·(price + carbon_price·co2)·import + demand_charge·peak import
− Σ Δ·export_price·export
+ degradation·storage discharge − user_price·energy into vehicle batteries
+ (user_price + V2G wear + V2G payment)·energy out of vehicle batteries
+ penalty·energy vehicles needed at their exit and did not get
+ network penalty·Σ Δ·excess over the network's limits [kW-equivalent]
− refill cost·(stored energy at the end − at the start)`` [currency].

The last term values what the stationary batteries hold at the end of a run at what it
would cost to put it back (:func:`refill_cost_per_kwh`), so neither emptying nor filling the
batteries by the end of a run is free.

The network term prices a step's excess over the voltage band and loading limits in kW of
draw at the connection that moves each element most (:mod:`ersgrid.optimize.network`) at
:attr:`ObjectiveWeights.network_penalty_per_kwh_eq`: the planner pays it on its slack, and a
run on what the power flow of its realised draw breaks, so a strategy that keeps the band by
giving up vehicle energy is not ranked behind one that breaks it.

Lower is better; ``−objective`` is the margin after carbon, wear and unmet-need penalty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ersgrid.optimize.network import NETWORK_PENALTY_FACTOR
from ersgrid.scenario.schema import Scenario
from ersgrid.scenario.v2g import wear_cost

__all__ = ["PENALTY_FACTOR", "TARGET_TERM_DAYS", "ObjectiveWeights", "refill_cost_per_kwh"]

TARGET_TERM_DAYS = 365.0
"""Days a peak above the demand target is billed for [d]: a contract demand raised by a
peak holds for twelve months (``tariff.demand_target_kw``)."""

PENALTY_FACTOR = 3.0
"""Unmet exit energy costs this many times the dearest price of the scenario [-].

It must exceed what any kWh could earn or cost elsewhere so that the planner never trades a
vehicle's exit target for money, yet stay finite so a plan always exists (soft
constraint): three times the highest of the user price and every grid price does both.
"""


@dataclass(frozen=True)
class ObjectiveWeights:
    """Prices and penalties of the objective [currency/kWh, currency/kg].

    Attributes
    ----------
    user_price_per_kwh : float
        Paid by vehicles per kWh into their batteries.
    export_price_per_kwh : float
    carbon_price_per_kg : float
    degradation_cost_per_kwh : float
        Per kWh discharged from stationary storage (AC side); 0 without storage.
    shortfall_penalty_per_kwh : float
        Per kWh a vehicle lacked at its exit target.
    demand_charge_per_kw : float [currency/kW]
        On the peak of the corridor's total import over the run: the tariff's daily rate
        times the run's length in days.
    v2g_cost_per_kwh : float
        Per kWh discharged from vehicle batteries (battery side): the refund of the user
        price the owner paid for that kWh, battery wear
        (:func:`~ersgrid.scenario.v2g.wear_cost`) and the payment to the owner
        (``response.v2g_payment_per_kwh``). Without the refund a plan could sell a kWh to a
        vehicle and take it back for the price of wear alone, a money pump.
    """

    user_price_per_kwh: float
    export_price_per_kwh: float
    carbon_price_per_kg: float
    degradation_cost_per_kwh: float
    shortfall_penalty_per_kwh: float
    v2g_cost_per_kwh: float = 0.0
    demand_charge_per_kw: float = 0.0

    @property
    def network_penalty_per_kwh_eq(self) -> float:
        """Per kW-equivalent of excess over a network limit for one hour
        [currency/kWh-equivalent]: :data:`~ersgrid.optimize.network.NETWORK_PENALTY_FACTOR`
        shortfall penalties."""
        return NETWORK_PENALTY_FACTOR * self.shortfall_penalty_per_kwh

    @classmethod
    def from_scenario(
        cls, scenario: Scenario, days: float = 1.0, planning: bool = False
    ) -> ObjectiveWeights:
        """The weights of a scenario (its tariff, carbon price and storage) for a run of
        ``days`` days [d] (the demand charge is a daily rate on the run's one peak).

        With ``planning`` and a ``tariff.demand_target_kw``, the plans' weights: a peak above
        the target (the plans' floor of the peak) costs :data:`TARGET_TERM_DAYS` days of the
        demand charge, what exceeding a contract demand costs (the bill keeps the run's
        days)."""
        tariff = scenario.tariff
        if planning and tariff.demand_target_kw is not None:
            days = max(float(days), TARGET_TERM_DAYS)
        dearest = max(
            [tariff.user_price_per_kwh, tariff.base_price_per_kwh]
            + [w.price_per_kwh for w in tariff.windows]
        )
        deg = scenario.storage.degradation_cost_per_kwh if scenario.storage else 0.0
        return cls(
            user_price_per_kwh=tariff.user_price_per_kwh,
            export_price_per_kwh=tariff.export_price_per_kwh,
            carbon_price_per_kg=tariff.carbon_price_per_kg,
            degradation_cost_per_kwh=deg,
            shortfall_penalty_per_kwh=PENALTY_FACTOR * dearest,
            v2g_cost_per_kwh=tariff.user_price_per_kwh
            + wear_cost(scenario.v2g, scenario.currency)
            + scenario.response.v2g_payment_per_kwh,
            demand_charge_per_kw=tariff.demand_charge_per_kw * float(days),
        )


def refill_cost_per_kwh(
    scenario: Scenario,
    price_per_kwh: npt.NDArray[np.float64],
    co2_kg_per_kwh: npt.NDArray[np.float64],
    with_carbon: bool = True,
) -> float:
    """Cheapest cost of putting one kWh into storage during a run [currency/kWh].

    The lowest import price (plus carbon cost, with ``with_carbon``) of the run, over the
    charge efficiency; 0 without storage.
    """
    if scenario.storage is None or len(price_per_kwh) == 0:
        return 0.0
    carbon = scenario.tariff.carbon_price_per_kg if with_carbon else 0.0
    cost = price_per_kwh + carbon * co2_kg_per_kwh
    return float(cost.min()) / scenario.storage.charge_efficiency
