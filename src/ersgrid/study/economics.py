"""Techno-economics of a run: what the road's assets cost, what a year earns, and for whom.

Pure: it reads a scenario, a run's KPIs and its signed settlement statements, and returns
figures; it writes nothing. Every figure is computed here once; the command line, the
comparison and the report read :meth:`Economics.as_dict`.

- Each asset group's capital ``C`` is annualised with the capital recovery factor
  ``CRF(r, n) = r (1 + r)^n / ((1 + r)^n − 1)`` (``1 / n`` at ``r = 0``), plus its O&M.
- The run's money streams are scaled to a year (``economics.annualise``): every stream of the
  settlement day by day with its day's weight, a KPI by the factor of its matching settlement
  item (``days_per_year / days`` without representative-day weights).
- The road (its operator and the partners that share its margin) earns the annual operating
  margin: the run's ``margin`` KPI scaled to a year, less the demand charge, plus any
  frequency-reserve capacity payment. Its cash flow: the capital it carries at year 0, the
  margin less O&M each year, each asset replaced at the end of its life, and the unused life
  of the last one credited linearly at the end of the horizon. NPV, IRR and the discounted
  payback are of this cash flow.
- LCOE: the whole delivery chain's annualised capital and O&M (every asset, the PV and wind
  only when the road owns them: otherwise their purchase price stands for them) plus the
  annual energy cost, the local plants' purchase and the demand charge, per kWh delivered into
  batteries in a year.
- Per party: the signed statements' lines (the ledger's :func:`item_totals` items) scaled to a
  year, the figures the ledger does not settle (the stored energy's value, the demand charge,
  the reserve payment for the road operator; V2G wear for the vehicle owners), less the
  annualised capital and O&M of the assets the party carries.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from ersgrid.errors import ScenarioError
from ersgrid.ledger.settlement import MICRO
from ersgrid.scenario.economics import AssetCostSpec, EconomicsSpec
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario, Technology
from ersgrid.study.counterfactuals import Counterfactuals, compute_counterfactuals

__all__ = [
    "ECONOMICS_LABELS",
    "SIZED_PRICES",
    "Asset",
    "Economics",
    "PartyPnL",
    "annual_cost_per_unit",
    "asset_register",
    "capital_recovery_factor",
    "compute_economics",
    "discounted_payback",
    "irr",
    "npv",
]

ECONOMICS_LABELS: dict[str, str] = {
    "capex": "Capital cost, every asset [{cur}]",
    "annual_energy_sales": "Energy sales per year [{cur}/a]",
    "annual_operating_margin": "Road's operating margin per year [{cur}/a]",
    "npv": "NPV of the road [{cur}]",
    "irr": "IRR of the road [1/a]",
    "lcoe_per_kwh": "Levelised cost per kWh delivered [{cur}/kWh]",
}
"""Labels of :meth:`Economics.kpis` (with their units) for tables."""


def capital_recovery_factor(rate: float, years: float) -> float:
    """Share of a capital cost paid each year to repay it with interest over its life [1/a].

    Parameters
    ----------
    rate : float [1/a]
        Discount rate, ``>= 0``.
    years : float [a]
        Lifetime, ``> 0``.
    """
    if years <= 0.0:
        raise ValueError("lifetime must be positive")
    if rate == 0.0:
        return 1.0 / years
    # (1 + r)^n - 1 through expm1/log1p: exact for rates near zero too
    rise = math.expm1(years * math.log1p(rate))
    return float(rate * (1.0 + rise) / rise)


def npv(rate: float, cash_flows: Sequence[float]) -> float:
    """Net present value of yearly cash flows, the first at year 0 [currency].

    Parameters
    ----------
    rate : float [1/a]
        Discount rate, ``> -1``.
    cash_flows : sequence of float [currency]
    """
    flows = np.asarray(cash_flows, dtype=np.float64)
    years = np.arange(len(flows), dtype=np.float64)
    return float((flows / (1.0 + rate) ** years).sum())


def irr(cash_flows: Sequence[float]) -> float | None:
    """Internal rate of return: the rate at which :func:`npv` is zero [1/a].

    The NPV is sampled on a grid of rates from -99.99 % to 10,000 % a year; the first bracket
    where it changes sign is refined by Brent's method. None when it does not change sign
    there (the flows never pay back, or never cost anything).
    """
    flows = list(cash_flows)
    grid = np.concatenate(
        [-1.0 + np.geomspace(1e-4, 0.1, 60), np.linspace(-0.9, 1.0, 400)[1:],
         np.geomspace(1.0, 100.0, 200)[1:]]
    )  # fmt: skip
    with np.errstate(all="ignore"):  # near -100 % the discount factors overflow: ±inf
        signs = np.sign([npv(float(r), flows) for r in grid])
    for i in range(len(grid) - 1):
        a, b = signs[i], signs[i + 1]
        if a == 0.0:
            return float(grid[i])
        if a * b < 0.0 and np.isfinite(npv(float(grid[i + 1]), flows)):
            root: float = brentq(lambda r: npv(r, flows), grid[i], grid[i + 1], xtol=1e-12)
            return root
    return float(grid[-1]) if signs[-1] == 0.0 else None


def discounted_payback(rate: float, cash_flows: Sequence[float]) -> float | None:
    """Years until the discounted cumulative cash flow first turns non-negative [a].

    Interpolated linearly within the year it turns; 0 when it never is negative; None when it
    does not turn within the flows given.
    """
    flows = np.asarray(cash_flows, dtype=np.float64)
    discounted = flows / (1.0 + rate) ** np.arange(len(flows), dtype=np.float64)
    cumulative = np.cumsum(discounted)
    if cumulative[0] >= 0.0:
        return 0.0
    for t in range(1, len(cumulative)):
        if cumulative[t] >= 0.0:
            return float(t - 1 + -cumulative[t - 1] / discounted[t])
    return None


@dataclass(frozen=True)
class Asset:
    """One asset group of the road, its cost in the scenario's currency.

    Attributes
    ----------
    name : str
    quantity : float [unit]
    unit : str
        ``lane-km``, ``MW``, ``kW``, ``kWh+kW``, ``kWp`` or ``vehicles``.
    capex : float [currency]
    om_per_year : float [currency/a]
    lifetime_years : float [a]
    annualised : float [currency/a]
        ``capex × CRF + om_per_year``.
    carrier : str
        Settlement role that pays for it.
    """

    name: str
    quantity: float
    unit: str
    capex: float
    om_per_year: float
    lifetime_years: float
    annualised: float
    carrier: str


def _rate(scenario: Scenario) -> float:
    spec = scenario.economics
    if spec.cost_currency == scenario.currency:
        return 1.0
    if spec.exchange_rate is None:
        raise ScenarioError(
            f"economics.exchange_rate: the costs are in {spec.cost_currency} and the scenario "
            f"in {scenario.currency}; give the {scenario.currency} per {spec.cost_currency} rate"
        )
    return spec.exchange_rate


def _wind_kw(scenario: Scenario) -> float:
    wind = sum(p.rated_kw for p in scenario.renewables.measured if p.kind == "wind")
    if scenario.renewables.wind:
        from ersgrid.world.renewables import turbine_rating_kw

        wind += sum(w.count * turbine_rating_kw(w.turbine_type) for w in scenario.renewables.wind)
    return wind


def _receivers(scenario: Scenario) -> dict[str, float]:
    """Receiver-fitted vehicles by class [-]: ERS trips a day / trips per receiver a day."""
    spec = scenario.economics
    out: dict[str, float] = {}
    for name, v in scenario.vehicles.items():
        trips = scenario.traffic.daily_volume * v.share * v.ev_share * v.receiver_share
        out[name] = trips / spec.corridor_trips_per_receiver_per_day
    return out


def _annuity(rate: float, life: AssetCostSpec) -> float:
    """Capital recovery factor of an asset group [1/a]; its O&M share comes on top."""
    return capital_recovery_factor(rate, life.lifetime_years)


SIZED_PRICES: dict[str, tuple[str, str]] = {
    "storage_energy_kwh": ("storage_per_kwh", "storage"),
    "storage_power_kw": ("storage_per_kw", "storage"),
    "import_capacity_kw": ("grid_connection_per_kw", "grid_connection"),
    "pv_kwp": ("pv_per_kwp", "pv"),
}
"""Each size a study may choose, with its price and lifetime fields of ``economics``."""


def annual_cost_per_unit(scenario: Scenario, size: str) -> float:
    """Annualised capital and fixed O&M of one unit of a size of :data:`SIZED_PRICES`, in
    the scenario's currency [currency/a per kWh, kW or kWp]: ``price × (CRF + O&M share)``,
    as :func:`asset_register` charges every asset.

    Raises
    ------
    ScenarioError
        If an exchange rate is missing.
    """
    spec: EconomicsSpec = scenario.economics
    price_field, life_field = SIZED_PRICES[size]
    price = float(getattr(spec, price_field)) * _rate(scenario)
    life: AssetCostSpec = getattr(spec, life_field)
    return price * (_annuity(spec.discount_rate, life) + life.om_share_per_year)


def asset_register(scenario: Scenario) -> list[Asset]:
    """The road's asset groups with their quantities from the scenario and their costs.

    Raises
    ------
    ScenarioError
        If the costs are in another currency than the scenario's and no exchange rate is given.
    """
    spec: EconomicsSpec = scenario.economics
    fx = _rate(scenario)
    r = spec.discount_rate
    plants_owner = (
        "road_operator" if scenario.settlement.ppa_price_per_kwh == 0 else ("renewable_owner")
    )

    def asset(name: str, qty: float, unit: str, capex: float, life: AssetCostSpec,
              carrier: str, om_extra: float = 0.0) -> Asset:  # fmt: skip
        capex *= fx
        om = capex * life.om_share_per_year + om_extra * fx
        annual = capex * _annuity(r, life) + om
        return Asset(name, qty, unit, capex, om, life.lifetime_years, annual, carrier)

    lane_km: dict[str, float] = defaultdict(float)
    for s in scenario.road.sections:
        lane_km[s.technology.value] += s.length_km * len(s.directions)
    per_km = {
        Technology.inductive.value: spec.inductive_per_lane_km,
        Technology.conductive_rail.value: spec.conductive_rail_per_lane_km,
        Technology.catenary.value: spec.catenary_per_lane_km,
    }
    out = [
        asset(tech, km, "lane-km", km * per_km[tech], spec.road, "road_operator",
              km * spec.road_om_per_lane_km_per_year)
        for tech, km in lane_km.items()
    ]  # fmt: skip
    sub_kw = {s.id: s.rating_kw for s in scenario.substations}
    mw = sum(sub_kw.values()) / 1000.0
    out.append(asset("substations", mw, "MW", mw * spec.substation_per_mw, spec.substations,
                     "road_operator"))  # fmt: skip
    limits = dict(sub_kw)
    if scenario.grid is not None:
        for c in scenario.grid.connections:
            if c.import_limit_kw is not None:
                limits[c.substation] = c.import_limit_kw
    conn_kw = sum(limits.values())
    out.append(asset("grid_connection", conn_kw, "kW", conn_kw * spec.grid_connection_per_kw,
                     spec.grid_connection, "road_operator"))  # fmt: skip
    st = scenario.storage
    if st is not None and st.energy_kwh + st.power_kw > 0:
        units = len(st.substations) if st.substations is not None else len(scenario.substations)
        kwh, kw = units * st.energy_kwh, units * st.power_kw
        out.append(asset("storage", kwh, "kWh", kwh * spec.storage_per_kwh
                         + kw * spec.storage_per_kw, spec.storage, "road_operator"))  # fmt: skip
    pv_kwp = sum(p.peak_kw for p in scenario.renewables.pv) + sum(
        p.rated_kw for p in scenario.renewables.measured if p.kind == "pv"
    )
    if pv_kwp > 0:
        out.append(asset("pv", pv_kwp, "kWp", pv_kwp * spec.pv_per_kwp, spec.pv, plants_owner))
    wind_kw = _wind_kw(scenario)
    if wind_kw > 0:
        out.append(asset("wind", wind_kw, "kW", wind_kw * spec.wind_per_kw, spec.wind,
                         plants_owner))  # fmt: skip
    receivers = _receivers(scenario)
    n = sum(receivers.values())
    if n > 0:
        cost = sum(
            receivers[c] * getattr(spec.receiver_per_vehicle, c)
            for c in VEHICLE_CLASSES
            if c in receivers
        )
        out.append(asset("receivers", n, "vehicles", cost, spec.receivers,
                         spec.receivers_paid_by))  # fmt: skip
    return out


@dataclass(frozen=True)
class PartyPnL:
    """A party's (a settlement role's) profit and loss over a year [currency/a].

    ``lines`` are the settled items (positive: received), ``outside`` the figures the ledger
    does not settle, ``capital`` the annualised capital and O&M of the assets it carries.
    """

    role: str
    name: str
    lines: dict[str, float]
    outside: dict[str, float]
    capital: float

    @property
    def operating(self) -> float:
        """Settled lines plus the figures outside the ledger [currency/a]."""
        return sum(self.lines.values()) + sum(self.outside.values())

    @property
    def net(self) -> float:
        """Operating result less capital [currency/a]."""
        return self.operating - self.capital


@dataclass(frozen=True)
class Economics:
    """Economics of one run; see the module docstring for every formula."""

    currency: str
    days: float
    scale: float
    assets: list[Asset]
    streams: dict[str, float]
    operating_margin: float
    road_capex: float
    road_annualised_capital: float
    cash_flows: list[float]
    npv: float
    irr: float | None
    discounted_payback_years: float | None
    energy_delivered_kwh_per_year: float
    annual_total_cost: float
    lcoe_per_kwh: float
    parties: dict[str, PartyPnL] = field(default_factory=dict)
    partners: tuple[str, ...] = ()
    counterfactuals: Counterfactuals | None = None

    @property
    def capex(self) -> float:
        """Capital of every asset group [currency]."""
        return sum(a.capex for a in self.assets)

    def kpis(self) -> dict[str, Any]:
        """The headline figures, as they join a run's KPIs (``kpis.json``, comparisons)."""
        return {
            "capex": self.capex,
            "annual_energy_sales": self.streams["energy_sales"],
            "annual_operating_margin": self.operating_margin,
            "npv": self.npv,
            "irr": self.irr,
            "lcoe_per_kwh": self.lcoe_per_kwh,
            **(self.counterfactuals.kpis() if self.counterfactuals is not None else {}),
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (``economics.json``); money in the scenario's currency."""
        return {
            "currency": self.currency,
            "days": self.days,
            "year_scale": self.scale,
            "capex": self.capex,
            "road_capex": self.road_capex,
            "road_annualised_capital": self.road_annualised_capital,
            "annual": self.streams,
            "annual_operating_margin": self.operating_margin,
            "annual_net": self.operating_margin - self.road_annualised_capital,
            "npv": self.npv,
            "irr": self.irr,
            "discounted_payback_years": self.discounted_payback_years,
            "energy_delivered_kwh_per_year": self.energy_delivered_kwh_per_year,
            "annual_total_cost": self.annual_total_cost,
            "lcoe_per_kwh": self.lcoe_per_kwh,
            "cash_flows": self.cash_flows,
            "assets": [a.__dict__ for a in self.assets],
            "partners": list(self.partners),
            "parties": {
                role: {
                    "name": p.name, "lines": p.lines, "outside": p.outside,
                    "operating": p.operating, "capital": p.capital, "net": p.net,
                }
                for role, p in self.parties.items()
            },
            "counterfactuals": (
                self.counterfactuals.as_dict() if self.counterfactuals is not None else None
            ),
        }  # fmt: skip


def _day_weights(spec: EconomicsSpec, days: float) -> Callable[[int], float]:
    """Weight of day ``d`` of the run in a year [d/a per day of the run]."""
    ann = spec.annualise
    if ann.day_weights is None:
        scale = ann.days_per_year / days
        return lambda d: scale
    weights = ann.day_weights
    if abs(days - len(weights)) > 1e-9:
        raise ScenarioError(
            f"economics.annualise.day_weights: {len(weights)} weights for a run of {days:g} "
            "days; give one weight per whole day of the run"
        )
    return lambda d: weights[min(max(d, 0), len(weights) - 1)]


def _settled(
    statements: Sequence[dict[str, Any]], weight: Callable[[int], float], start: pd.Timestamp
) -> tuple[dict[str, tuple[float, ...]], dict[str, dict[str, float]], dict[str, str]]:
    """Per item on the payee's side: (run money, annual money, run energy [kWh], annual
    energy [kWh/a]); per role: its lines scaled to a year; per role: its name."""
    periods = sorted({int(st["period"]) for st in statements})
    local = pd.to_datetime(periods, unit="s", utc=True).tz_convert(start.tz).tz_localize(None)
    first = start.tz_localize(None).normalize()
    day_of = dict(zip(periods, (local.normalize() - first).days.tolist(), strict=True))
    items: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    roles: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    names: dict[str, str] = {}
    for st in statements:
        w = weight(int(day_of[int(st["period"])]))
        role = str(st["role"])
        names.setdefault(role, "vehicle owners" if role == "vehicle_owner" else str(st["name"]))
        for line in st["lines"]:
            amount = int(line["amount_micro"]) / MICRO
            roles[role][str(line["item"])] += amount * w
            if amount > 0:
                energy_kwh = int(line["energy_mwh"]) * 1e-6
                row = items[str(line["item"])]
                row[0] += amount
                row[1] += amount * w
                row[2] += energy_kwh
                row[3] += energy_kwh * w
    return (
        {k: tuple(v) for k, v in items.items()},
        {r: dict(v) for r, v in roles.items()},
        names,
    )


def compute_economics(
    scenario: Scenario,
    kpis: dict[str, Any],
    statements: Sequence[dict[str, Any]] = (),
    reserve_revenue: float = 0.0,
    trips: pd.DataFrame | None = None,
    timeseries: pd.DataFrame | None = None,
) -> Economics:
    """The economics of a run.

    Parameters
    ----------
    scenario : Scenario
        The run's resolved scenario (its ``economics`` section).
    kpis : dict
        The run's KPIs (``kpis.json``).
    statements : sequence of dict
        The run's signed settlement statements (every period, every party); without them
        there is no profit and loss per party, and representative-day weights cannot be used.
    reserve_revenue : float [currency]
        Frequency-reserve capacity payment over the run (``ersgrid reserve``'s ``revenue``).
    trips, timeseries : DataFrame, optional
        The run's ``trips.parquet`` and ``timeseries.parquet``: with both, the road is set
        against its counterfactuals (:mod:`ersgrid.study.counterfactuals`).

    Raises
    ------
    ScenarioError
        If an exchange rate is missing, or day weights do not match the run or have no
        statements to weigh.
    """
    spec = scenario.economics
    days = float(kpis["days"])
    start = pd.Timestamp(kpis["start"])
    weight = _day_weights(spec, days)
    if spec.annualise.day_weights is not None and not statements:
        raise ScenarioError(
            "economics.annualise.day_weights: weighing days needs the run's settlement "
            "statements (a results folder with its ledger)"
        )
    mean_scale = (
        spec.annualise.days_per_year / days
        if spec.annualise.day_weights is None
        else sum(spec.annualise.day_weights) / days
    )
    items, lines, names = _settled(statements, weight, start)

    def scale(*names: str, energy: bool = False) -> float:
        run = sum(items[n][2 if energy else 0] for n in names if n in items)
        annual = sum(items[n][3 if energy else 1] for n in names if n in items)
        return annual / run if run > 0 else mean_scale

    bought = kpis["import_cost"] * scale("energy", "network fee")
    stored = kpis["stored_energy_value"] * mean_scale
    streams = {
        "energy_sales": kpis["revenue"] * scale("charging"),
        "export_revenue": kpis["export_revenue"] * scale("export"),
        "grid_energy_bought": bought,
        "stored_energy_value": stored,
        "energy_cost": bought - stored,
        "renewable_purchase": kpis["renewable_purchase"] * scale("local renewables"),
        "v2g_refunds": kpis["v2g_buyback"] * scale("V2G refund"),
        "v2g_payments": kpis["v2g_payment"] * scale("V2G payment"),
        "v2g_wear_cost": kpis["v2g_wear_cost"] * mean_scale,
        "demand_charge": kpis["demand_charge"] * mean_scale,
        "reserve_revenue": reserve_revenue * mean_scale,
    }
    delivered = kpis["energy_delivered_kwh"] * scale("charging", energy=True)
    margin = (
        streams["energy_sales"] + streams["export_revenue"] - streams["energy_cost"]
        - streams["renewable_purchase"] - streams["v2g_refunds"] - streams["v2g_payments"]
    )  # fmt: skip
    operating = margin - streams["demand_charge"] + streams["reserve_revenue"]

    assets = asset_register(scenario)
    partners = scenario.settlement.partners
    road_assets = [a for a in assets if a.carrier in partners]
    road_capex = sum(a.capex for a in road_assets)
    flows = _cash_flows(road_assets, operating, spec)
    rate = spec.discount_rate
    # the delivery chain: every asset but plants whose output the road buys
    chain = [a for a in assets if not (a.name in ("pv", "wind") and a.carrier != "road_operator")]
    total_cost = (
        sum(a.annualised for a in chain) + streams["energy_cost"]
        + streams["renewable_purchase"] + streams["demand_charge"]
    )  # fmt: skip
    parties = _parties(scenario, assets, lines, names, streams)
    lcoe = total_cost / delivered if delivered > 0 else math.nan
    counterfactuals = None
    if trips is not None and timeseries is not None:
        counterfactuals = compute_counterfactuals(
            scenario, kpis, trips, timeseries, lcoe_per_kwh=lcoe, year_scale=mean_scale,
            capital_recovery=capital_recovery_factor(
                rate, spec.counterfactuals.depot_charger.lifetime_years),
            exchange_rate=_rate(scenario),
        )  # fmt: skip
    return Economics(
        currency=scenario.currency,
        days=days,
        scale=mean_scale,
        assets=assets,
        streams=streams,
        operating_margin=operating,
        road_capex=road_capex,
        road_annualised_capital=sum(a.annualised for a in road_assets),
        cash_flows=flows,
        npv=npv(rate, flows),
        irr=irr(flows),
        discounted_payback_years=discounted_payback(rate, flows),
        energy_delivered_kwh_per_year=delivered,
        annual_total_cost=total_cost,
        lcoe_per_kwh=lcoe,
        parties=parties,
        partners=partners,
        counterfactuals=counterfactuals,
    )


def _cash_flows(assets: list[Asset], operating: float, spec: EconomicsSpec) -> list[float]:
    """Year 0 .. horizon: capital at 0 and at each replacement, the operating margin less O&M
    each year, and the unused life of the last replacement credited at the end."""
    horizon = spec.horizon_years
    flows = [0.0] + [operating] * horizon
    for a in assets:
        flows[0] -= a.capex
        for year in range(1, horizon + 1):
            flows[year] -= a.om_per_year
        life = a.lifetime_years
        built = 0.0
        while built + life < horizon:
            built += life
            flows[math.ceil(built - 1e-9)] -= a.capex
        left = built + life - horizon  # years of the last one's life beyond the horizon
        flows[horizon] += a.capex * left / life
    return flows


def _parties(
    scenario: Scenario,
    assets: list[Asset],
    lines: dict[str, dict[str, float]],
    names: dict[str, str],
    streams: dict[str, float],
) -> dict[str, PartyPnL]:
    if not lines:
        return {}
    outside: dict[str, dict[str, float]] = defaultdict(dict)
    road = outside["road_operator"]
    if streams["stored_energy_value"]:
        road["stored energy value"] = streams["stored_energy_value"]
    if streams["demand_charge"]:
        road["demand charge"] = -streams["demand_charge"]
    if streams["reserve_revenue"]:
        road["reserve capacity"] = streams["reserve_revenue"]
    if streams["v2g_wear_cost"]:
        outside["vehicle_owner"]["V2G wear"] = -streams["v2g_wear_cost"]
    capital: dict[str, float] = defaultdict(float)
    for a in assets:
        capital[a.carrier] += a.annualised
    party_names = scenario.settlement.parties.model_dump()
    roles = sorted(set(lines) | set(capital) | set(outside))
    return {
        role: PartyPnL(
            role=role,
            name=names.get(role, party_names.get(role, "vehicle owners")),
            lines=lines.get(role, {}),
            outside=outside.get(role, {}),
            capital=capital.get(role, 0.0),
        )
        for role in roles
    }
