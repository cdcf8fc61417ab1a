"""Resilience: a grid outage at one substation, and how long the island keeps critical loads.

During the outage the substation's segments cannot charge; the ones with V2G vehicles on
them are asked to return what the critical load needs beyond local PV (the twin decides
what they actually return). The island then balances, in each 15-min step, in this order:
local PV and road V2G first; a shortfall is met from vehicles parked at the service-area
chargers, then from the stationary battery; a surplus charges the battery and the rest is
spilled. Critical load that none of these can meet is energy not served.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.control.registry import make_strategy
from ersgrid.errors import ScenarioError
from ersgrid.optimize.storage import storage_arrays
from ersgrid.run.runner import RunResult, run
from ersgrid.scenario.layout import Layout, build_layout
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import PLANNING_STEP_H
from ersgrid.twin.parking import ParkedFleet, parked_fleet

__all__ = ["IslandReport", "Islanding", "Outage", "island_balance", "run_outage"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Outage:
    """A grid outage at one substation.

    Attributes
    ----------
    substation : str
    start : datetime
        Local start time (scenario time zone).
    hours : float [h]
    """

    substation: str
    start: dt.datetime
    hours: float

    def steps(self, index: pd.DatetimeIndex) -> npt.NDArray[np.bool_]:
        """Planning steps inside the outage (``index``: tz-aware planning steps)."""
        start = pd.Timestamp(self.start).tz_localize(index.tz)
        end = start + pd.Timedelta(hours=self.hours)
        return np.asarray((index >= start) & (index < end), dtype=bool)


def _critical_kw(scenario: Scenario, layout: Layout, sub: int) -> float:
    """Critical load of the service areas behind substation ``sub`` [kW]."""
    return float(
        sum(
            sa.critical_load_kw
            for sa, own in zip(scenario.service_areas, layout.sa_substation, strict=True)
            if own == sub
        )
    )


class Islanding(Strategy):
    """Wrap a strategy: at the islanded substation, no charging and V2G for the critical load."""

    def __init__(self, base: Strategy, outage: Outage) -> None:
        self.base = base
        self.outage = outage
        self.name = f"{base.name}+outage"  # type: ignore[misc]

    def reset(self, context: RunContext) -> None:
        super().reset(context)
        self.base.reset(context)
        lay = context.layout
        if self.outage.substation not in lay.sub_ids:
            raise ScenarioError(
                f"outage at unknown substation {self.outage.substation!r}; known: {lay.sub_ids}"
            )
        self.sub = lay.sub_ids.index(self.outage.substation)
        self.segs = np.flatnonzero(lay.seg_substation == self.sub)
        self.mask = self.outage.steps(context.index)
        if not self.mask.any():
            raise ScenarioError(
                f"the outage from {self.outage.start} for {self.outage.hours} h is outside the run"
            )
        self.critical_kw = _critical_kw(context.scenario, lay, self.sub)

    def decide(self, observation: Observation) -> Dispatch:
        d = self.base.decide(observation)
        self.fallbacks = int(getattr(self.base, "fallbacks", 0))
        if not self.mask[observation.step]:
            return d
        lay = self.context.layout
        seg = np.array(d.seg_limit_kw, dtype=np.float64)
        sub = np.array(d.sub_limit_kw, dtype=np.float64)
        seg[self.segs] = 0.0
        sub[self.sub] = 0.0
        v2g = np.zeros(lay.n_segments) if d.seg_v2g_kw is None else np.array(d.seg_v2g_kw)
        cap = (
            np.full(lay.n_substations, np.inf)
            if d.sub_v2g_kw is None
            else np.array(d.sub_v2g_kw, dtype=np.float64)
        )
        pv = self.context.energy.renewable_kw[observation.step, self.sub]
        need = max(self.critical_kw - pv, 0.0)
        # every segment may return power; the substation takes back only what the load needs
        v2g[self.segs] = lay.seg_rating_kw[self.segs] if need > 0 else 0.0
        cap[self.sub] = need
        storage = None if d.storage_kw is None else np.array(d.storage_kw, dtype=np.float64)
        if storage is not None:
            storage[self.sub] = 0.0  # the island's battery is accounted in island_balance
        target = None if d.import_target_kw is None else np.array(d.import_target_kw)
        if target is not None:
            target[self.sub] = np.inf  # no grid to keep an import target on
        return replace(
            d, seg_limit_kw=seg, sub_limit_kw=sub, storage_kw=storage, seg_v2g_kw=v2g,
            sub_v2g_kw=cap, import_target_kw=target,
        )  # fmt: skip


@dataclass(frozen=True)
class IslandReport:
    """How the island fared, energy in kWh, by source.

    Local renewables (``pv_kwh`` and ``wind_kwh``) and road V2G serve the critical load first;
    a shortfall is met from parked vehicles, then from the battery; a surplus charges the
    battery, the rest is spilled: ``served = local used + parked + storage_discharged`` and
    ``pv + wind + road_v2g = local used + storage_charged + spilled``.
    """

    substation: str
    start: str
    hours: float
    critical_load_kw: float
    critical_kwh: float
    served_kwh: float
    not_served_kwh: float
    hours_served: float
    pv_kwh: float
    wind_kwh: float
    road_v2g_kwh: float
    parked_kwh: float
    storage_discharged_kwh: float
    storage_charged_kwh: float
    spilled_kwh: float


def island_balance(result: RunResult, outage: Outage, fleet: ParkedFleet) -> IslandReport:
    """Balance the island step by step from what the run realised (see module text)."""
    sc = result.scenario
    lay = build_layout(sc)
    index = pd.DatetimeIndex(result.timeseries.index)
    sub = lay.sub_ids.index(outage.substation)
    mask = outage.steps(index)
    h = PLANNING_STEP_H
    crit = _critical_kw(sc, lay, sub)
    store = storage_arrays(sc, lay)
    steps = np.flatnonzero(mask)
    energy = (
        float(result.storage_kwh[steps[0] - 1, sub])
        if steps[0] > 0
        else float(store.initial_kwh[sub])
    )
    parked_cols = np.flatnonzero(fleet.substation == sub)
    drawn_parked = 0.0
    keys = ("pv", "wind", "road", "parked", "dis", "chg", "spill", "served", "short")
    tot = dict.fromkeys(keys, 0.0)
    plants = result.world.plants
    pv_sub = plants.per_connection(lay.sub_ids, "pv")[:, sub]
    wind_sub = plants.per_connection(lay.sub_ids, "wind")[:, sub]
    first_short = None
    for n, k in enumerate(steps):
        pv, wind = float(pv_sub[k]), float(wind_sub[k])
        road = max(-float(result.road_sub_kw[k, sub]), 0.0)
        tot["pv"] += pv * h
        tot["wind"] += wind * h
        tot["road"] += road * h
        local = pv + wind + road
        if local >= crit:
            surplus = local - crit
            room = (store.energy_max_kwh[sub] - energy) / (store.charge_efficiency * h)
            chg = min(surplus, store.power_kw[sub], max(room, 0.0))
            energy += chg * store.charge_efficiency * h
            tot["chg"] += chg * h
            tot["spill"] += (surplus - chg) * h
            tot["served"] += crit * h
            continue
        deficit = crit - local
        pool = fleet.energy_kwh[k, parked_cols].sum() - drawn_parked
        parked = min(deficit, fleet.power_kw[k, parked_cols].sum(), max(pool, 0.0) / h)
        drawn_parked += parked * h
        deficit -= parked
        avail = (energy - store.energy_min_kwh[sub]) * store.discharge_efficiency / h
        dis = min(deficit, store.power_kw[sub], max(avail, 0.0))
        energy -= dis / store.discharge_efficiency * h
        deficit -= dis
        tot["parked"] += parked * h
        tot["dis"] += dis * h
        tot["served"] += (crit - deficit) * h
        tot["short"] += deficit * h
        if deficit > 1e-9 and first_short is None:
            first_short = n
    hours_served = (len(steps) if first_short is None else first_short) * h
    return IslandReport(
        substation=outage.substation,
        start=str(index[steps[0]]),
        hours=len(steps) * h,
        critical_load_kw=crit,
        critical_kwh=crit * len(steps) * h,
        served_kwh=tot["served"],
        not_served_kwh=tot["short"],
        hours_served=hours_served,
        pv_kwh=tot["pv"],
        wind_kwh=tot["wind"],
        road_v2g_kwh=tot["road"],
        parked_kwh=tot["parked"],
        storage_discharged_kwh=tot["dis"],
        storage_charged_kwh=tot["chg"],
        spilled_kwh=tot["spill"],
    )


def run_outage(
    scenario: Scenario,
    outage: Outage,
    strategy: str = "uncontrolled",
    days: float = 1.0,
) -> tuple[RunResult, IslandReport, ParkedFleet]:
    """Run a scenario with an outage and balance the island."""
    base = make_strategy(strategy)
    result = run(scenario, Islanding(base, outage), days=days)
    lay = build_layout(scenario)
    rng = np.random.default_rng([scenario.seed, 7])  # own stream: parking draws
    fleet = parked_fleet(
        scenario, lay, result.world.arrivals, len(result.timeseries),
        PLANNING_STEP_H * 3600.0, rng,
    )  # fmt: skip
    return result, island_balance(result, outage, fleet), fleet
