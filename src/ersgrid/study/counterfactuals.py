"""What the road's vehicles would pay and emit without the road: the counterfactuals a buyer
asks for, set beside the road's own figures.

Pure: it reads a run's trips and time series (as written in its results folder) and the
scenario's ``economics.counterfactuals`` section, and returns figures; it writes nothing.

The service compared is the run's completed trips: per vehicle class ``c`` the energy
delivered into their batteries ``E_c`` [kWh] (``energy_received_kwh``) and the vehicle-km
they drove on the corridor ``D_c = Σ |exit_km − entry_km|`` [km]. Every option delivers the
same ``E = Σ E_c`` or drives the same ``D = Σ D_c``:

- **road**: its levelised cost per kWh delivered (capital included, see
  :mod:`ersgrid.study.economics`); its CO2 is the grid energy the road and its stationary
  batteries drew beyond the local renewables they took at each step, at that step's
  intensity, ``Σ_t max(road_power_kw + storage_power_kw − renewable_used_kw, 0) · Δ ·
  co2_t`` (a battery's charge counts when it charges, its discharge lowers the draw when it
  discharges), per kWh delivered in the run (``energy_delivered_kwh``).
- **depot**: the same ``E`` charged overnight at the depot, at the run's mean grid price and
  CO2 intensity over the depot's window (the tariff's cheapest window unless given), through
  chargers of ``depot_efficiency``: ``price / η`` per kWh, plus the chargers' capital
  (installed kW = nightly grid energy / window hours / ``depot_charger_load_factor``, at
  ``depot_charger_per_kw``, annualised like the road's assets over a year of the same
  deliveries) and the tariff's demand charge on the depot's mean draw.
- **public fast charging**: the same ``E`` at ``fast_charge_price_per_kwh``; its CO2 at the
  run's mean grid intensity (charging whenever the vehicles stop) over
  ``fast_charge_efficiency``.
- **diesel**: the same trips on diesel: ``litres_c = D_c · diesel_l_per_100km_c / 100``,
  costing ``diesel_price_per_l`` and emitting ``diesel_co2_kg_per_l`` (well to wheel) each;
  per kWh it is the fuel for the trips over the ``E`` it stands in for.

Per vehicle-km every option is its run total over ``D``. A trip that left with more charge
than it came with carried energy for driving beyond the corridor: its kWh count in the
electric options' per-km figures, so they lean against the road's vehicles there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.scenario.economics import (
    COUNTERFACTUAL_OPTIONS,
    DIESEL_PRICE_PER_L,
    FAST_CHARGE_PRICE_PER_KWH,
)
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario

__all__ = [
    "COUNTERFACTUAL_LABELS",
    "OPTIONS",
    "ClassService",
    "Counterfactuals",
    "Option",
    "compute_counterfactuals",
    "depot_window_mask",
]

OPTIONS = COUNTERFACTUAL_OPTIONS
"""The options compared, in the order they are reported, with their labels."""

COUNTERFACTUAL_LABELS: dict[str, str] = {
    **{f"cost_per_kwh_{k}": f"{v}: cost [{{cur}}/kWh]" for k, v in OPTIONS.items()},
    **{f"co2_kg_per_vkm_{k}": f"{v}: CO2 [kg/vehicle-km]" for k, v in OPTIONS.items()},
}
"""Labels of the counterfactual KPIs (:meth:`Counterfactuals.kpis`) for tables."""

_DEFAULT_WINDOW = (22 * 60, 6 * 60)
"""Depot window [minutes of the local day] when the tariff has no window: 22:00-06:00 [U]."""


@dataclass(frozen=True)
class ClassService:
    """What the run's completed trips of one class drove and received.

    Attributes
    ----------
    vehicle_class : str
    trips : int
    energy_kwh : float [kWh]
        Delivered into their batteries.
    vehicle_km : float [km]
        Driven on the corridor.
    diesel_l : float [L]
        What the same trips take on diesel.
    """

    vehicle_class: str
    trips: int
    energy_kwh: float
    vehicle_km: float
    diesel_l: float


@dataclass(frozen=True)
class Option:
    """One way of serving the trips: its cost and CO2 over the run and per unit.

    Attributes
    ----------
    cost : float [currency]
        Over the run, for the trips' energy ``E`` (or, on diesel, their km).
    co2_kg : float [kg]
    cost_per_kwh : float [currency/kWh]
        ``cost / E``.
    co2_kg_per_kwh : float [kg/kWh]
    cost_per_vehicle_km : float [currency/km]
        ``cost / D``.
    co2_kg_per_vehicle_km : float [kg/km]
    detail : dict
        The figures the option is built from (prices, efficiency, charger power, ...).
    """

    name: str
    label: str
    cost: float
    co2_kg: float
    cost_per_kwh: float
    co2_kg_per_kwh: float
    cost_per_vehicle_km: float
    co2_kg_per_vehicle_km: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Counterfactuals:
    """The road and its counterfactuals on the run's trips; see the module docstring."""

    energy_kwh: float
    vehicle_km: float
    classes: list[ClassService]
    options: dict[str, Option]
    notes: list[str] = field(default_factory=list)

    def kpis(self) -> dict[str, float]:
        """Cost per kWh and CO2 per vehicle-km of each option, as they join a run's KPIs."""
        out: dict[str, float] = {}
        for name in OPTIONS:
            o = self.options.get(name)
            out[f"cost_per_kwh_{name}"] = o.cost_per_kwh if o else math.nan
            out[f"co2_kg_per_vkm_{name}"] = o.co2_kg_per_vehicle_km if o else math.nan
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the ``counterfactuals`` of ``economics.json``)."""
        return {
            "energy_kwh": self.energy_kwh,
            "vehicle_km": self.vehicle_km,
            "classes": [asdict(c) for c in self.classes],
            "options": {k: asdict(o) for k, o in self.options.items()},
            "notes": list(self.notes),
        }


def _sourced(
    given: float | None,
    sourced: Mapping[str, float],
    currency: str,
    notes: list[str],
    option: str,
    what: str,
    field: str,
) -> float:
    """The scenario's price, else the sourced one of its currency, else NaN with a note
    naming the field to give."""
    if given is not None:
        return given
    price = sourced.get(currency, math.nan)
    if math.isnan(price):
        notes.append(
            f"{option}: no sourced {what} in {currency} (no cost); give "
            f"economics.counterfactuals.{field}"
        )
    return price


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _option(name: str, cost: float, co2: float, energy: float, km: float,
            **detail: Any) -> Option:  # fmt: skip
    return Option(
        name, OPTIONS[name], cost, co2, _ratio(cost, energy), _ratio(co2, energy),
        _ratio(cost, km), _ratio(co2, km), dict(detail),
    )  # fmt: skip


def depot_window_mask(
    scenario: Scenario, index: pd.DatetimeIndex
) -> tuple[npt.NDArray[np.bool_], float]:
    """Steps inside the depot's overnight window, and the window's length [h].

    The window is ``economics.counterfactuals.depot_window_start``/``_end``; without them
    the tariff's cheapest window; without windows 22:00-06:00.
    """
    spec = scenario.economics.counterfactuals
    if spec.depot_window_start is not None and spec.depot_window_end is not None:
        start, end = spec.depot_window_start, spec.depot_window_end
        lo, hi = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    elif scenario.tariff.windows:
        w = min(scenario.tariff.windows, key=lambda w: w.price_per_kwh)
        lo, hi = w.start.hour * 60 + w.start.minute, w.end.hour * 60 + w.end.minute
    else:
        lo, hi = _DEFAULT_WINDOW
    minute = np.asarray(index.hour * 60 + index.minute, dtype=np.int64)
    inside = (minute >= lo) & (minute < hi) if lo < hi else (minute >= lo) | (minute < hi)
    hours = ((hi - lo) % 1440) / 60.0
    return np.asarray(inside, dtype=bool), hours


def _services(scenario: Scenario, trips: pd.DataFrame) -> list[ClassService]:
    use = scenario.economics.counterfactuals.diesel_l_per_100km
    out = []
    for c in VEHICLE_CLASSES:
        rows = trips[trips["vehicle_class"] == c]
        if rows.empty:
            continue
        km = float((rows["exit_km"] - rows["entry_km"]).abs().sum())
        energy = float(rows["energy_received_kwh"].sum())
        out.append(ClassService(c, len(rows), energy, km, km * getattr(use, c) / 100.0))
    return out


def compute_counterfactuals(
    scenario: Scenario,
    kpis: dict[str, Any],
    trips: pd.DataFrame,
    timeseries: pd.DataFrame,
    *,
    lcoe_per_kwh: float,
    year_scale: float,
    capital_recovery: float,
    exchange_rate: float,
) -> Counterfactuals:
    """The road and its counterfactuals on the run's completed trips.

    Parameters
    ----------
    scenario : Scenario
        The run's resolved scenario (``economics.counterfactuals``, the tariff, the currency).
    kpis : dict
        The run's KPIs (``energy_delivered_kwh``, ``revenue``, ``days``).
    trips : DataFrame
        ``trips.parquet``: ``vehicle_class``, ``entry_km``, ``exit_km`` [km],
        ``energy_received_kwh`` [kWh].
    timeseries : DataFrame
        ``timeseries.parquet`` (planning steps, tz-aware): ``price_per_kwh``
        [currency/kWh], ``co2_kg_per_kwh`` [kg/kWh], ``road_power_kw``,
        ``storage_power_kw`` (charging positive) and ``renewable_used_kw`` [kW].
    lcoe_per_kwh : float [currency/kWh]
        The road's levelised cost per kWh delivered.
    year_scale : float [-]
        Days of the year each day of the run stands for, over the run (the economics' mean).
    capital_recovery : float [1/a]
        Capital recovery factor of the depot chargers at the economics' discount rate.
    exchange_rate : float [-]
        Scenario currency per unit of ``economics.cost_currency``.
    """
    spec = scenario.economics.counterfactuals
    cur = scenario.currency
    classes = _services(scenario, trips)
    energy = sum(c.energy_kwh for c in classes)
    km = sum(c.vehicle_km for c in classes)
    notes: list[str] = []
    index = pd.DatetimeIndex(timeseries.index)
    step_h = (index[1] - index[0]).total_seconds() / 3600.0 if len(index) > 1 else 0.25
    price = timeseries["price_per_kwh"].to_numpy(dtype=np.float64)
    co2 = timeseries["co2_kg_per_kwh"].to_numpy(dtype=np.float64)
    days = float(kpis["days"])
    options: dict[str, Option] = {}

    # the road: its LCOE, and the CO2 of what it and its batteries drew beyond the local
    # renewables they took (the batteries' charge counts when they charge)
    road_kw = timeseries["road_power_kw"].to_numpy(dtype=np.float64)
    if "storage_power_kw" in timeseries:
        road_kw = road_kw + timeseries["storage_power_kw"].to_numpy(dtype=np.float64)
    ren_kw = (
        timeseries["renewable_used_kw"].to_numpy(dtype=np.float64)
        if "renewable_used_kw" in timeseries
        else np.zeros(len(index))
    )
    road_co2 = float((np.maximum(road_kw - ren_kw, 0.0) * step_h * co2).sum())
    delivered = float(kpis["energy_delivered_kwh"])
    road_co2_per_kwh = _ratio(road_co2, delivered)
    options["road"] = _option(
        "road", lcoe_per_kwh * energy, road_co2_per_kwh * energy, energy, km,
        lcoe_per_kwh=lcoe_per_kwh, user_price_per_kwh=_ratio(float(kpis["revenue"]), delivered),
        grid_co2_kg=road_co2, energy_delivered_kwh=delivered,
    )  # fmt: skip

    # the depot: the same energy overnight, on the same tariff
    inside, window_h = depot_window_mask(scenario, index)
    if inside.any():
        night_price = float(price[inside].mean())
        night_co2 = float(co2[inside].mean())
        eta = spec.depot_efficiency
        grid_kwh = energy / eta
        mean_kw = grid_kwh / days / window_h
        charger_kw = mean_kw / spec.depot_charger_load_factor
        capex = charger_kw * spec.depot_charger_per_kw * exchange_rate
        annual = capex * (capital_recovery + spec.depot_charger.om_share_per_year)
        capital = annual / year_scale  # the run's share of a year's charger cost
        demand = mean_kw * scenario.tariff.demand_charge_per_kw * days
        cost = grid_kwh * night_price + capital + demand
        options["depot"] = _option(
            "depot", cost, grid_kwh * night_co2, energy, km,
            night_price_per_kwh=night_price, night_co2_kg_per_kwh=night_co2,
            efficiency=eta, window_h=window_h, grid_energy_kwh=grid_kwh,
            mean_power_kw=mean_kw, charger_kw=charger_kw, charger_capex=capex,
            charger_annualised=annual, charger_cost_in_run=capital, demand_charge=demand,
        )  # fmt: skip
    else:
        notes.append("depot: the run has no step in the depot's overnight window")

    # public fast charging: its price, at the run's mean intensity
    fast_price = _sourced(
        spec.fast_charge_price_per_kwh, FAST_CHARGE_PRICE_PER_KWH, cur, notes,
        "fast_charging", "fast-charging price", "fast_charge_price_per_kwh",
    )  # fmt: skip
    eta = spec.fast_charge_efficiency
    mean_co2 = float(co2.mean()) if len(co2) else math.nan
    options["fast_charging"] = _option(
        "fast_charging", energy * fast_price, energy / eta * mean_co2, energy, km,
        price_per_kwh=fast_price, efficiency=eta, grid_co2_kg_per_kwh=mean_co2,
    )  # fmt: skip

    # diesel: the same trips
    diesel_price = _sourced(
        spec.diesel_price_per_l, DIESEL_PRICE_PER_L, cur, notes,
        "diesel", "diesel price", "diesel_price_per_l",
    )  # fmt: skip
    litres = sum(c.diesel_l for c in classes)
    options["diesel"] = _option(
        "diesel", litres * diesel_price, litres * spec.diesel_co2_kg_per_l, energy, km,
        litres=litres, price_per_l=diesel_price, co2_kg_per_l=spec.diesel_co2_kg_per_l,
    )  # fmt: skip
    if not classes:
        notes.append("no completed trip in the run: nothing to compare")
    return Counterfactuals(energy, km, classes, options, notes)
