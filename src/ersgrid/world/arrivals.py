"""The vehicles that enter the twin: drawn from the traffic intensity, or replayed from counts.

Only vehicles that can take power from the road (battery-electric with an ERS receiver) are
drawn as individuals for the twin; the rest of the traffic counts in the volume and in the
forecasts but draws no power. Drawn arrivals are a non-homogeneous Poisson process per
planning step, direction and class; replayed arrivals are exactly the counted vehicles of each
interval (of all counted vehicles, each takes power from the road with its class's ERS share),
at uniform times within their interval. Origin and destination follow a gravity model on
interchange weights (``P(i, j) ∝ w_i w_j`` for every exit ``j`` downstream of entry ``i``);
counts per interchange fix the entry and draw the exit among those downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.counts import TrafficCounts
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.timeindex import SLOWEST_SPEED_SHARE
from ersgrid.world.response import v2g_opt_in
from ersgrid.world.traffic import ers_fraction

__all__ = [
    "DAY_ID_STRIDE",
    "Arrivals",
    "concat_arrivals",
    "draw_arrivals",
    "replay_counts",
    "take_window",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Arrivals:
    """Vehicles entering the twin, sorted by arrival time (struct of arrays).

    Attributes
    ----------
    time_s : ndarray [s]
        Arrival time from the start of the run.
    direction : ndarray of int8
        0 = A, 1 = B.
    vclass : ndarray of int8
        Index into :data:`~ersgrid.scenario.schema.VEHICLE_CLASSES`.
    entry_m, exit_m : ndarray [m]
        Entry and exit in travel coordinates.
    entry_ic, exit_ic : ndarray of int16
        Interchange indices (sorted by road kilometre).
    speed_mps : ndarray [m/s]
    energy_kwh : ndarray [kWh]
        Battery energy at entry.
    battery_kwh : ndarray [kWh]
    full_kwh : ndarray [kWh]
        Energy at which charging stops (``soc_max * battery_kwh``).
    target_kwh : ndarray [kWh]
        Energy needed at exit.
    receiver_kw : ndarray [kW]
    consumption_kwh_per_m : ndarray [kWh/m]
    v2g : ndarray of bool
    vehicle_id : ndarray of int64
    """

    time_s: FloatArray
    direction: npt.NDArray[np.int8]
    vclass: npt.NDArray[np.int8]
    entry_m: FloatArray
    exit_m: FloatArray
    entry_ic: npt.NDArray[np.int16]
    exit_ic: npt.NDArray[np.int16]
    speed_mps: FloatArray
    energy_kwh: FloatArray
    battery_kwh: FloatArray
    full_kwh: FloatArray
    target_kwh: FloatArray
    receiver_kw: FloatArray
    consumption_kwh_per_m: FloatArray
    v2g: npt.NDArray[np.bool_]
    vehicle_id: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.time_s)


def _truncated_normal(
    rng: np.random.Generator, mean: float, std: float, lo: float, hi: float, n: int
) -> FloatArray:
    values = rng.normal(mean, std, n) if std > 0 else np.full(n, mean)
    for _ in range(20):
        bad = (values < lo) | (values > hi)
        if not bad.any():
            break
        values[bad] = rng.normal(mean, std, int(bad.sum()))
    return np.clip(values, lo, hi)


def _od_tables(
    layout: Layout,
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray]]:
    """Per direction: entry and exit interchange of each O-D pair, and its probability."""
    n = len(layout.ic_position_km)
    w = layout.ic_weight
    tables = []
    for direction in (0, 1):
        pairs_i, pairs_j, probs = [], [], []
        for i in range(n):
            for j in range(n):
                downstream = (
                    layout.ic_position_km[j] > layout.ic_position_km[i]
                    if direction == 0
                    else layout.ic_position_km[j] < layout.ic_position_km[i]
                )
                if downstream:
                    pairs_i.append(i)
                    pairs_j.append(j)
                    probs.append(w[i] * w[j])
        p = np.asarray(probs, dtype=np.float64)
        tables.append((np.asarray(pairs_i), np.asarray(pairs_j), p / p.sum()))
    return tables


def _day_rng(scenario: Scenario, day: pd.Timestamp, stream: int) -> np.random.Generator:
    """The generator of one local day's draws: the same vehicles on the same day in every
    window that covers it."""
    return np.random.default_rng([scenario.seed, stream, day.toordinal()])


def _day_ids(day: pd.Timestamp, n: int) -> npt.NDArray[np.int64]:
    """Vehicle ids of a day's arrivals: unique over the years, stable in every window."""
    return np.int64(day.toordinal()) * DAY_ID_STRIDE + np.arange(n, dtype=np.int64)


DAY_ID_STRIDE = np.int64(1 << 24)
"""Ids of one day's vehicles are ``ordinal(day) * DAY_ID_STRIDE + k`` (k < 16.7 M)."""


def draw_arrivals(
    scenario: Scenario, layout: Layout, index: pd.DatetimeIndex, volume: pd.DataFrame
) -> Arrivals:
    """Draw the ERS vehicles entering during the steps of ``index``.

    Each local day is drawn from its own seed ``(seed, day)``, so a day brings the same
    vehicles (times, classes, O-D pairs, batteries, speeds) in every window that covers it:
    two consecutive runs meet the vehicles of one long run.

    Parameters
    ----------
    scenario, layout
    index : DatetimeIndex
        Planning steps of whole local days (tz-aware).
    volume : DataFrame [veh/step]
        Mean vehicles entering per step by ``<class>_<direction>``, all vehicles (the
        world's traffic intensity); each takes power from the road with its class's ERS share.
    """
    step_s = scenario.simulation.planning_step_min * 60.0
    od = _od_tables(layout)
    days = pd.Index(index.normalize())
    parts: list[Arrivals] = []
    for day in days.unique():
        sel = np.flatnonzero(days == day)
        rng = _day_rng(scenario, day, 0xA7)
        chunks: dict[str, list[npt.NDArray[np.generic]]] = {
            k: [] for k in ("t", "d", "c", "i", "j")
        }
        for c, name in enumerate(VEHICLE_CLASSES):
            if name not in scenario.vehicles:
                continue
            share = ers_fraction(scenario, name)
            for d, tag in enumerate(("A", "B")):
                lam = volume[f"{name}_{tag}"].to_numpy()[sel] * share
                counts = rng.poisson(lam)
                total = int(counts.sum())
                if total == 0:
                    continue
                step = np.repeat(sel, counts)
                pairs_i, pairs_j, probs = od[d]
                pick = rng.choice(len(probs), size=total, p=probs)
                chunks["t"].append(step * step_s + rng.uniform(0.0, step_s, total))
                chunks["d"].append(np.full(total, d, dtype=np.int8))
                chunks["c"].append(np.full(total, c, dtype=np.int8))
                chunks["i"].append(pairs_i[pick])
                chunks["j"].append(pairs_j[pick])
        part = _vehicles(scenario, layout, rng, chunks)
        parts.append(replace(part, vehicle_id=_day_ids(day, len(part))))
    return concat_arrivals(parts)


def replay_counts(
    scenario: Scenario,
    layout: Layout,
    index: pd.DatetimeIndex,
    counts: TrafficCounts,
    vehicles: str = "all",
) -> Arrivals:
    """The ERS vehicles of measured counts entering during the steps of ``index``.

    Each row's vehicles enter at uniform times within its interval (those that fall outside
    the run are not drawn); with ``vehicles="all"`` each counted vehicle takes power from the
    road with its class's ERS share (a binomial draw per row), with ``"ers"`` every counted
    vehicle enters the twin. Rows with an interchange enter there and leave at an exit
    downstream drawn by the gravity model; rows without one draw the whole O-D pair. Each
    local day is drawn from its own seed, as :func:`draw_arrivals`.

    Parameters
    ----------
    counts : TrafficCounts
        Checked to cover the run (see :func:`ersgrid.world.traffic.check_counts`).
    vehicles : {"all", "ers"}
    """
    t0 = index[0]
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(minutes=15)
    run_s = len(index) * step.total_seconds()
    od = _od_tables(layout)
    interval_s = counts.interval.total_seconds()
    start_s = (counts.start - t0).total_seconds().to_numpy()
    inside = (start_s < run_s) & (start_s + interval_s > 0.0)
    row_day = pd.Index(counts.start.tz_convert(index.tz).normalize())
    parts: list[Arrivals] = []
    for day in row_day[inside].unique():
        rows = np.flatnonzero(row_day == day)  # the whole day: the same draws in any window
        rng = _day_rng(scenario, day, 0xC7)
        chunks: dict[str, list[npt.NDArray[np.generic]]] = {
            k: [] for k in ("t", "d", "c", "i", "j")
        }
        for k in rows:
            name = VEHICLE_CLASSES[int(counts.vclass[k])]
            n = int(counts.count[k])
            if vehicles == "all":
                n = int(rng.binomial(n, ers_fraction(scenario, name)))
            if n == 0:
                continue
            d = int(counts.direction[k])
            t = start_s[k] + rng.uniform(0.0, interval_s, n)
            pairs_i, pairs_j, probs = od[d]
            if counts.interchange[k] >= 0:
                own = pairs_i == int(counts.interchange[k])
                p = probs[own] / probs[own].sum()
                pick = np.flatnonzero(own)[rng.choice(int(own.sum()), size=n, p=p)]
            else:
                pick = rng.choice(len(probs), size=n, p=probs)
            chunks["t"].append(t)
            chunks["d"].append(np.full(n, d, dtype=np.int8))
            chunks["c"].append(np.full(n, int(counts.vclass[k]), dtype=np.int8))
            chunks["i"].append(pairs_i[pick])
            chunks["j"].append(pairs_j[pick])
        part = _vehicles(scenario, layout, rng, chunks)
        parts.append(replace(part, vehicle_id=_day_ids(day, len(part))))
    arrivals = concat_arrivals(parts)
    return take_window(arrivals, 0.0, run_s)


def concat_arrivals(parts: list[Arrivals]) -> Arrivals:
    """Arrivals of consecutive parts, in time order (each part is in time order)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    if len(parts) == 1:
        return parts[0]
    merged = Arrivals(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Arrivals)}
    )
    order = np.argsort(merged.time_s, kind="stable")
    return Arrivals(**{f.name: getattr(merged, f.name)[order] for f in fields(Arrivals)})


def take_window(arrivals: Arrivals, start_s: float, end_s: float) -> Arrivals:
    """The arrivals in ``[start_s, end_s)`` [s], with times counted from ``start_s``."""
    keep = (arrivals.time_s >= start_s) & (arrivals.time_s < end_s)
    out = Arrivals(**{f.name: getattr(arrivals, f.name)[keep] for f in fields(Arrivals)})
    return replace(out, time_s=out.time_s - start_s)


def _vehicles(
    scenario: Scenario,
    layout: Layout,
    rng: np.random.Generator,
    chunks: dict[str, list[npt.NDArray[np.generic]]],
) -> Arrivals:
    """Arrivals from entry times, directions, classes and O-D pairs: each vehicle's battery,
    state of charge, speed and V2G flag drawn by class."""
    if not chunks["t"] or sum(len(t) for t in chunks["t"]) == 0:
        return _empty()
    opt_in = v2g_opt_in(scenario.response)
    t = np.concatenate(chunks["t"]).astype(np.float64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    direction = np.concatenate(chunks["d"])[order].astype(np.int8)
    vclass = np.concatenate(chunks["c"])[order].astype(np.int8)
    entry_ic = np.concatenate(chunks["i"])[order].astype(np.int16)
    exit_ic = np.concatenate(chunks["j"])[order].astype(np.int16)
    n = len(t)

    battery = np.zeros(n)
    full = np.zeros(n)
    target = np.zeros(n)
    receiver = np.zeros(n)
    consumption = np.zeros(n)
    energy = np.zeros(n)
    speed = np.zeros(n)
    v2g = np.zeros(n, dtype=bool)
    for c, name in enumerate(VEHICLE_CLASSES):
        spec = scenario.vehicles.get(name)  # type: ignore[call-overload]
        mask = vclass == c
        k = int(mask.sum())
        if spec is None or k == 0:
            continue
        battery[mask] = spec.battery_kwh
        full[mask] = spec.soc_max * spec.battery_kwh
        target[mask] = spec.exit_target_soc * spec.battery_kwh
        receiver[mask] = spec.receiver_kw
        consumption[mask] = spec.consumption_kwh_per_km / 1000.0
        soc = _truncated_normal(
            rng,
            spec.entry_soc.mean,
            spec.entry_soc.std,
            spec.entry_soc.min,
            min(spec.entry_soc.max, spec.soc_max),
            k,
        )
        energy[mask] = soc * spec.battery_kwh
        kmh = _truncated_normal(
            rng,
            spec.speed.mean_kmh,
            spec.speed.std_kmh,
            SLOWEST_SPEED_SHARE * spec.speed.mean_kmh,
            1.4 * spec.speed.mean_kmh,
            k,
        )
        speed[mask] = kmh / 3.6
        v2g[mask] = rng.random(k) < spec.v2g_share * opt_in

    entry_m = layout.to_travel_m(layout.ic_position_km[entry_ic], direction)
    exit_m = layout.to_travel_m(layout.ic_position_km[exit_ic], direction)
    return Arrivals(
        time_s=t,
        direction=direction,
        vclass=vclass,
        entry_m=entry_m,
        exit_m=exit_m,
        entry_ic=entry_ic,
        exit_ic=exit_ic,
        speed_mps=speed,
        energy_kwh=energy,
        battery_kwh=battery,
        full_kwh=full,
        target_kwh=target,
        receiver_kw=receiver,
        consumption_kwh_per_m=consumption,
        v2g=v2g,
        vehicle_id=np.arange(n, dtype=np.int64),
    )


def _empty() -> Arrivals:
    f = np.zeros(0, dtype=np.float64)
    i8 = np.zeros(0, dtype=np.int8)
    i16 = np.zeros(0, dtype=np.int16)
    return Arrivals(
        time_s=f,
        direction=i8,
        vclass=i8,
        entry_m=f,
        exit_m=f,
        entry_ic=i16,
        exit_ic=i16,
        speed_mps=f,
        energy_kwh=f,
        battery_kwh=f,
        full_kwh=f,
        target_kwh=f,
        receiver_kw=f,
        consumption_kwh_per_m=f,
        v2g=np.zeros(0, dtype=bool),
        vehicle_id=np.zeros(0, np.int64),
    )
