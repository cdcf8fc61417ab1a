"""Vehicles parked at service-area V2G chargers during their break.

A V2G vehicle of a parking class that passes a service area with chargers stops there with
probability ``stop_share``, plugs in if a charger is free (first come, first served), stays
for a dwell time drawn from the scenario, and offers the energy above the state of charge it
keeps for its onward trip (``min_soc``). Its energy at arrival is its entry energy less the
driving energy to the service area (road charging before the stop is ignored: conservative).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.world.arrivals import Arrivals

__all__ = ["ParkedFleet", "parked_fleet"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ParkedFleet:
    """Plugged-in vehicles per planning step and service area.

    Attributes
    ----------
    names : list of str
        Service areas with V2G chargers.
    substation : ndarray of int
        Substation index of each of them.
    vehicles : ndarray, shape (steps, areas)
        Vehicles plugged in at the start of each step.
    power_kw : ndarray [kW], shape (steps, areas)
        Discharge power available: plugged vehicles × charger rating.
    energy_kwh : ndarray [kWh], shape (steps, areas)
        Energy the plugged vehicles can give above their kept state of charge.
    """

    names: list[str]
    substation: npt.NDArray[np.int64]
    vehicles: npt.NDArray[np.int64]
    power_kw: FloatArray
    energy_kwh: FloatArray


def parked_fleet(
    scenario: Scenario,
    layout: Layout,
    arrivals: Arrivals,
    n_steps: int,
    step_s: float,
    rng: np.random.Generator,
) -> ParkedFleet:
    """Draw who parks where and for how long, and sum it per planning step.

    Parameters
    ----------
    n_steps : int
        Planning steps of the run.
    step_s : float [s]
        Length of a planning step.
    rng : numpy Generator
        Its own stream, so the road's vehicles do not change with the parking settings.
    """
    spec = scenario.v2g.parking
    classes = [VEHICLE_CLASSES.index(c) for c in spec.classes]
    chosen = [
        k
        for k, sa in enumerate(scenario.service_areas)
        if sa.v2g_chargers > 0 and sa.charger_kw > 0
    ]
    areas = [scenario.service_areas[k] for k in chosen]
    shape = (n_steps, len(areas))
    vehicles = np.zeros(shape, dtype=np.int64)
    power = np.zeros(shape)
    energy = np.zeros(shape)
    for a, sa in enumerate(areas):
        here = layout.to_travel_m(np.full(len(arrivals), sa.position_km), arrivals.direction)
        passing = (
            arrivals.v2g
            & np.isin(arrivals.vclass, classes)
            & (arrivals.entry_m < here)
            & (here < arrivals.exit_m)
        )
        stops = passing & (rng.random(len(arrivals)) < spec.stop_share)
        idx = np.flatnonzero(stops)
        dist = here[idx] - arrivals.entry_m[idx]
        t_in = arrivals.time_s[idx] + dist / arrivals.speed_mps[idx]
        dwell = (
            np.clip(rng.normal(spec.dwell_mean_min, spec.dwell_std_min, len(idx)), 5.0, None) * 60.0
        )
        at_stop = arrivals.energy_kwh[idx] - arrivals.consumption_kwh_per_m[idx] * dist
        spare = np.maximum(at_stop - spec.min_soc * arrivals.battery_kwh[idx], 0.0)
        free_at: list[float] = [0.0] * sa.v2g_chargers
        heapq.heapify(free_at)
        for j in np.argsort(t_in, kind="stable"):
            if free_at[0] > t_in[j]:
                continue  # every charger busy: the vehicle parks without plugging in
            heapq.heapreplace(free_at, t_in[j] + dwell[j])
            first = int(np.ceil(t_in[j] / step_s))
            last = int(np.floor((t_in[j] + dwell[j]) / step_s))  # exclusive: gone by then
            if first >= last or first >= n_steps:
                continue
            steps = slice(first, min(last, n_steps))
            vehicles[steps, a] += 1
            power[steps, a] += sa.charger_kw
            energy[steps, a] += spare[j]
    return ParkedFleet(
        names=[sa.name for sa in areas],
        substation=layout.sa_substation[chosen].astype(np.int64),
        vehicles=vehicles,
        power_kw=power,
        energy_kwh=energy,
    )
