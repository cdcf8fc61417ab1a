"""Vehicle cohorts for the planning LP, and where and when each can take power.

A *cohort* is a group of ERS vehicles that enter in the same planning step at the same
interchange, leave at the same interchange, belong to the same class and direction, and
start with about the same battery energy (one bin of the entry state-of-charge
distribution). The planner treats each cohort as ``count`` identical vehicles. Built from
the traffic forecast (:func:`forecast_cohorts`) or from realised arrivals, one vehicle per
cohort (:func:`vehicle_cohorts`, used only by the oracle).

:func:`exposure` turns cohorts and the corridor layout into the LP's raw material: for each
(cohort, planning step, substation) where a vehicle can charge, the most energy one vehicle
can take into its battery in that step and the grid-to-battery efficiency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.world.arrivals import Arrivals
from ersgrid.world.traffic import ers_fraction

__all__ = [
    "Cohorts",
    "Exposure",
    "coarsen_entry_steps",
    "concat_cohorts",
    "drop_idle",
    "entry_soc_bins",
    "exposure",
    "forecast_cohorts",
    "idle_shortfall_kwh",
    "od_table",
    "road_cohorts",
    "vehicle_cohorts",
    "window_last_step",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_CHUNK_PAIRS = 4_000_000
"""Most cohort × segment pairs handled at once by :func:`exposure` (bounds memory)."""


@dataclass(frozen=True)
class Cohorts:
    """Cohorts as a struct of arrays, one entry per cohort.

    Attributes
    ----------
    direction : ndarray of int64
        0 = A, 1 = B.
    vclass : ndarray of int64
        Index into :data:`~ersgrid.scenario.schema.VEHICLE_CLASSES`.
    entry_step : ndarray of int64
        Planning step of entry, counted from the model's first step (may be negative for
        vehicles already on the road when the model starts).
    entry_h : ndarray [h]
        Time a vehicle is at ``entry_m``, from the start of the model's first step.
    entry_m, exit_m : ndarray [m]
        Entry and exit in the direction's travel coordinates.
    entry_ic, exit_ic : ndarray of int64
        Interchange indices (sorted by road kilometre).
    soc_bin : ndarray of int64
        Bin of the entry state-of-charge distribution.
    speed_mps : ndarray [m/s]
    count : ndarray [veh]
        Vehicles in the cohort (expected: fractional).
    energy_kwh : ndarray [kWh]
        Battery energy of one vehicle at ``entry_m``.
    target_kwh, full_kwh : ndarray [kWh]
        Energy needed at exit, energy at which charging stops.
    receiver_kw : ndarray [kW]
        Receiver rating, battery side.
    consumption_kwh_per_m : ndarray [kWh/m]
    v2g : ndarray [-]
        1 where the cohort's vehicles allow V2G (they may return power), else 0.
    """

    direction: IntArray
    vclass: IntArray
    entry_step: IntArray
    entry_h: FloatArray
    entry_m: FloatArray
    exit_m: FloatArray
    entry_ic: IntArray
    exit_ic: IntArray
    soc_bin: IntArray
    speed_mps: FloatArray
    count: FloatArray
    energy_kwh: FloatArray
    target_kwh: FloatArray
    full_kwh: FloatArray
    receiver_kw: FloatArray
    consumption_kwh_per_m: FloatArray
    v2g: FloatArray

    def __len__(self) -> int:
        return len(self.count)

    def take(self, keep: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> Cohorts:
        """The cohorts selected by an index or mask."""
        return Cohorts(**{k: v[keep] for k, v in self.__dict__.items()})

    def trip_h(self) -> FloatArray:
        """Duration of each cohort's trip [h]."""
        return (self.exit_m - self.entry_m) / self.speed_mps / 3600.0

    def trip_kwh(self) -> FloatArray:
        """Energy one vehicle of each cohort consumes over its trip [kWh]."""
        return self.consumption_kwh_per_m * (self.exit_m - self.entry_m)

    def exit_step(self, step_h: float) -> IntArray:
        """Planning step of each cohort's exit, counted from the model's first step [-]."""
        return np.floor((self.entry_h + self.trip_h()) / step_h).astype(np.int64)

    def consumed_kwh(self, until_h: FloatArray | float) -> FloatArray:
        """Energy one vehicle of each cohort has consumed by time ``until_h`` [kWh]."""
        moved = np.clip((until_h - self.entry_h) * 3600.0 * self.speed_mps, 0.0, None)
        return self.consumption_kwh_per_m * np.minimum(moved, self.exit_m - self.entry_m)


def od_table(layout: Layout, direction: int) -> tuple[IntArray, IntArray, FloatArray]:
    """Entry and exit interchange of each origin–destination pair of a direction, and its
    probability (gravity model on interchange weights, as in the traffic model)."""
    pos = layout.ic_position_km
    i, j = np.meshgrid(np.arange(len(pos)), np.arange(len(pos)), indexing="ij")
    down = pos[j] > pos[i] if direction == 0 else pos[j] < pos[i]
    ii, jj = i[down], j[down]
    p = layout.ic_weight[ii] * layout.ic_weight[jj]
    return ii.astype(np.int64), jj.astype(np.int64), p / p.sum()


def entry_soc_bins(
    mean: float, std: float, lo: float, hi: float, n_bins: int
) -> tuple[FloatArray, FloatArray]:
    """Equal-probability bins of a truncated normal entry state of charge.

    Returns
    -------
    soc_mean : ndarray [-]
        Conditional mean state of charge of each bin.
    edges : ndarray [-]
        ``n_bins + 1`` bin edges.
    """
    if std <= 0.0 or hi <= lo:
        value = float(np.clip(mean, lo, hi))
        return np.full(n_bins, value), np.linspace(lo, hi, n_bins + 1)
    x = np.linspace(lo, hi, 4001)
    pdf = np.exp(-0.5 * ((x - mean) / std) ** 2)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    edges = np.interp(np.linspace(0.0, 1.0, n_bins + 1), cdf, x)
    means = np.empty(n_bins)
    for b in range(n_bins):
        inside = (x >= edges[b]) & (x <= edges[b + 1])
        w = pdf[inside]
        means[b] = float((x[inside] * w).sum() / w.sum()) if w.sum() > 0 else edges[b]
    return means, edges


def forecast_cohorts(
    scenario: Scenario,
    layout: Layout,
    volume: pd.DataFrame | FloatArray,
    step_h: float,
    first_step: int = 0,
    n_bins: int = 2,
) -> Cohorts:
    """Cohorts of ERS vehicles expected to enter in each step of a traffic forecast.

    Parameters
    ----------
    scenario, layout
    volume : DataFrame or ndarray [veh/step]
        Expected vehicles entering per step, all vehicles, columns ``<class>_<direction>``
        as from :func:`~ersgrid.world.traffic.expected_volume` (an ndarray must have the
        same column order). Only the ERS share of each class counts.
    step_h : float [h]
        Planning step.
    first_step : int
        Model step of the first row of ``volume`` (negative: before the model starts).
    n_bins : int
        Bins of the entry state-of-charge distribution per class.

    Returns
    -------
    Cohorts
        Entry at the middle of the step, class mean speed, bin-mean entry energy. A class
        with ``0 < v2g_share < 1`` gives two cohorts per entry: its V2G share and the rest.
    """
    columns = list(volume.columns) if isinstance(volume, pd.DataFrame) else None
    values = np.asarray(volume, dtype=np.float64)
    n_steps = values.shape[0]
    parts: list[dict[str, npt.NDArray[np.generic]]] = []
    col = 0
    for c, name in enumerate(VEHICLE_CLASSES):
        spec = scenario.vehicles.get(name)  # type: ignore[call-overload]
        if spec is None:
            continue
        share = ers_fraction(scenario, name)
        soc_mean, _ = entry_soc_bins(
            spec.entry_soc.mean,
            spec.entry_soc.std,
            spec.entry_soc.min,
            min(spec.entry_soc.max, spec.soc_max),
            n_bins,
        )
        for d, tag in enumerate(("A", "B")):
            j = columns.index(f"{name}_{tag}") if columns is not None else col
            col += 1
            if share <= 0.0:
                continue
            ii, jj, p = od_table(layout, d)
            steps = np.arange(n_steps)
            grid = np.meshgrid(steps, np.arange(len(p)), np.arange(n_bins), indexing="ij")
            s_, o_, b_ = (a.ravel() for a in grid)
            count = values[s_, j] * share * p[o_] / n_bins
            entry_m = layout.to_travel_m(layout.ic_position_km[ii[o_]], np.full(len(s_), d))
            exit_m = layout.to_travel_m(layout.ic_position_km[jj[o_]], np.full(len(s_), d))
            k = len(s_)
            parts.append(
                {
                    "direction": np.full(k, d),
                    "vclass": np.full(k, c),
                    "entry_step": s_ + first_step,
                    "entry_h": (s_ + first_step + 0.5) * step_h,
                    "entry_m": entry_m,
                    "exit_m": exit_m,
                    "entry_ic": ii[o_],
                    "exit_ic": jj[o_],
                    "soc_bin": b_,
                    "speed_mps": np.full(k, spec.speed.mean_kmh / 3.6),
                    "count": count,
                    "energy_kwh": soc_mean[b_] * spec.battery_kwh,
                    "target_kwh": np.full(k, spec.exit_target_soc * spec.battery_kwh),
                    "full_kwh": np.full(k, spec.soc_max * spec.battery_kwh),
                    "receiver_kw": np.full(k, spec.receiver_kw),
                    "consumption_kwh_per_m": np.full(k, spec.consumption_kwh_per_km / 1000.0),
                    "v2g": np.zeros(k),
                }
            )
            parts.extend(_v2g_split(parts.pop(), spec.v2g_share))
    return _concat(parts)


def _v2g_split(
    part: dict[str, npt.NDArray[np.generic]], share: float
) -> list[dict[str, npt.NDArray[np.generic]]]:
    """A part's cohorts split into the V2G share (``v2g`` = 1) and the rest."""
    if share <= 0.0:
        return [part]
    count = np.asarray(part["count"], dtype=np.float64)
    v2g = {**part, "count": count * share, "v2g": np.ones(len(count))}
    if share >= 1.0:
        return [v2g]
    return [{**part, "count": count * (1.0 - share)}, v2g]


def window_last_step(entry_step: IntArray, width: int, offset: int = 0) -> IntArray:
    """Last step of the entry window of ``width`` steps that holds each entry step.

    Windows are aligned on run steps (``offset`` = the run step of model step 0), so the
    same vehicle falls in the same window whatever step a model starts at.
    """
    absolute = np.asarray(entry_step, dtype=np.int64) + offset
    return np.asarray((absolute // width + 1) * width - 1 - offset, dtype=np.int64)


def coarsen_entry_steps(
    cohorts: Cohorts, expo: Exposure, width: int, offset: int = 0
) -> tuple[Cohorts, Exposure]:
    """Cohorts of ``width`` consecutive entry steps merged into one (fewer, larger cohorts).

    Forecast cohorts that differ only in their entry step within one window of ``width``
    steps (:func:`window_last_step`) and agree on direction, class, entry and exit
    interchange, entry state-of-charge bin and V2G become one cohort: counts summed, entry
    time the count-weighted mean of the members' (their mean where all counts are zero),
    entry step the window's last step (a window is in the future until all of it has
    entered; ``mpc`` matches measured vehicles to it from then on). A window that began
    before the model's first step takes its latest member's entry time instead: of its
    vehicles, those still on the road when the model starts are the late ones (as ``mpc``
    places the vehicles of a past step at its end). Every other attribute is equal within
    such a group for :func:`forecast_cohorts`' cohorts.

    The merged cohort's exposure is its members' together: where a member can take ``x̄`` in
    a (step, substation), the merged cohort's ``count × x̄`` gains the member's ``count × x̄``,
    so at the forecast counts every step's and substation's charging capacity is the
    members' exactly, spread over the window as the vehicles are. Vehicles and their energy
    need (count × (target − entry energy + trip consumption)) are conserved. What is lost is
    each member's own energy account: the merged cohort's rows (not past full, exit need) sum
    over its members along the mean entry time. On a long corridor most single-step cohorts
    hold a few thousandths of a vehicle (xinjiang-g30: median 0.002) and each costs a
    column and a row per step it charges in, and the members of a window share most of their
    (step, substation) cells' neighbours but not the cells themselves: merging 4 steps cuts
    the cohort columns and rows about 4-fold and the charge columns little.

    Parameters
    ----------
    cohorts : Cohorts
        From :func:`forecast_cohorts` (not one cohort per vehicle).
    expo : Exposure
        Their exposure (:func:`exposure`).
    width : int
        Entry steps per window (1: unchanged).
    offset : int
        Run step of model step 0 (aligns the windows on run steps).

    Returns
    -------
    Cohorts, Exposure
        The merged cohorts and their exposure.
    """
    if width < 1:
        raise ValueError(f"width must be at least 1 entry step, got {width}")
    if width == 1 or len(cohorts) == 0:
        return cohorts, expo
    c = cohorts
    last = window_last_step(c.entry_step, width, offset)
    keys = np.stack(
        [last, c.direction, c.vclass, c.entry_ic, c.exit_ic, c.soc_bin, (c.v2g > 0.5)], axis=1
    ).astype(np.int64)
    uniq, first, inv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    n = len(uniq)
    count = np.bincount(inv, weights=c.count, minlength=n)
    members = np.bincount(inv, minlength=n).astype(np.float64)
    weighted = np.bincount(inv, weights=c.count * c.entry_h, minlength=n)
    plain = np.bincount(inv, weights=c.entry_h, minlength=n) / members
    entry_h = np.where(count > 0.0, weighted / np.where(count > 0.0, count, 1.0), plain)
    latest = np.full(n, -np.inf)
    np.maximum.at(latest, inv, c.entry_h)
    began_before = uniq[:, 0] - (width - 1) < 0
    entry_h = np.where(began_before, latest, entry_h)
    out = c.take(first)
    merged = Cohorts(**{
        **out.__dict__, "entry_step": uniq[:, 0], "entry_h": entry_h, "count": count,
    })  # fmt: skip
    # each member's share of its merged cohort (by count; equal shares where all are zero)
    share = np.where(count[inv] > 0.0, c.count / np.where(count > 0.0, count, 1.0)[inv],
                     1.0 / members[inv])  # fmt: skip
    k = inv[expo.cohort]
    w = share[expo.cohort] * expo.max_kwh
    n_steps = int(expo.step.max(initial=-1)) + 1
    n_sub = int(expo.substation.max(initial=-1)) + 1
    key = (k * n_steps + expo.step) * n_sub + expo.substation
    cells, where = np.unique(key, return_inverse=True)
    xbar = np.bincount(where, weights=w, minlength=len(cells))
    grid = np.bincount(where, weights=w / expo.efficiency, minlength=len(cells))
    keep = xbar > 0.0
    cells, xbar, grid = cells[keep], xbar[keep], grid[keep]
    return merged, Exposure(
        cohort=cells // (n_steps * n_sub),
        step=(cells // n_sub) % n_steps,
        substation=cells % n_sub,
        max_kwh=np.asarray(xbar, dtype=np.float64),
        efficiency=np.asarray(xbar / grid, dtype=np.float64),
    )


def vehicle_cohorts(arrivals: Arrivals, step_h: float) -> Cohorts:
    """One cohort per realised vehicle (count 1, its own entry energy and speed).

    Only the oracle may plan with these: they are the run's actual draws.
    """
    n = len(arrivals)
    entry_h = arrivals.time_s / 3600.0
    return Cohorts(
        direction=arrivals.direction.astype(np.int64),
        vclass=arrivals.vclass.astype(np.int64),
        entry_step=np.floor(entry_h / step_h).astype(np.int64),
        entry_h=entry_h,
        entry_m=arrivals.entry_m.astype(np.float64),
        exit_m=arrivals.exit_m.astype(np.float64),
        entry_ic=arrivals.entry_ic.astype(np.int64),
        exit_ic=arrivals.exit_ic.astype(np.int64),
        soc_bin=np.zeros(n, dtype=np.int64),
        speed_mps=arrivals.speed_mps.astype(np.float64),
        count=np.ones(n),
        energy_kwh=arrivals.energy_kwh.astype(np.float64),
        target_kwh=arrivals.target_kwh.astype(np.float64),
        full_kwh=arrivals.full_kwh.astype(np.float64),
        receiver_kw=arrivals.receiver_kw.astype(np.float64),
        consumption_kwh_per_m=arrivals.consumption_kwh_per_m.astype(np.float64),
        v2g=arrivals.v2g.astype(np.float64),
    )


def road_cohorts(vehicles: pd.DataFrame) -> Cohorts:
    """One cohort per vehicle on the road at the model's start (count 1), entering where it
    is at time 0 with the energy it has then.

    Parameters
    ----------
    vehicles : DataFrame
        The twin's vehicles (:meth:`RoadTwin.state <ersgrid.twin.road.RoadTwin.state>`):
        position, exit, speed, energies, receiver, consumption, class, direction, V2G flag
        and interchanges of each.

    Notes
    -----
    Their need at exit (``target − energy + consumption from here to the exit``) is what the
    twin counts as their shortfall, so a plan over these and the arrivals after the start
    accounts for every trip the run completes.
    """
    n = len(vehicles)

    def f64(name: str) -> FloatArray:
        return np.asarray(vehicles[name].to_numpy(), dtype=np.float64)

    def i64(name: str) -> IntArray:
        return np.asarray(vehicles[name].to_numpy(), dtype=np.int64)

    return Cohorts(
        direction=i64("direction"),
        vclass=i64("vclass"),
        entry_step=np.zeros(n, dtype=np.int64),
        entry_h=np.zeros(n),
        entry_m=f64("position_m"),
        exit_m=f64("exit_m"),
        entry_ic=i64("entry_ic"),
        exit_ic=i64("exit_ic"),
        soc_bin=np.zeros(n, dtype=np.int64),
        speed_mps=f64("speed_mps"),
        count=np.ones(n),
        energy_kwh=f64("energy_kwh"),
        target_kwh=f64("target_kwh"),
        full_kwh=f64("full_kwh"),
        receiver_kw=f64("receiver_kw"),
        consumption_kwh_per_m=f64("consumption_kwh_per_m"),
        v2g=f64("v2g"),
    )


def idle_shortfall_kwh(cohorts: Cohorts, expo: Exposure, n_steps: int, step_h: float) -> float:
    """What the cohorts that cannot charge anywhere in the model and leave within it fall
    short of their exit targets [kWh]: ``count · max(target − E0 + trip consumption, 0)``.

    :func:`drop_idle` leaves these cohorts out of the LP (nothing to decide for them); their
    shortfall is a constant of the run's unmet energy, the same under every plan.
    """
    idle = np.ones(len(cohorts), dtype=bool)
    idle[expo.cohort] = False
    c = cohorts.take(idle)
    exit_step = c.exit_step(step_h)
    leaves = (exit_step >= 0) & (exit_step < n_steps)
    need = np.maximum(c.target_kwh - c.energy_kwh + c.trip_kwh(), 0.0) * c.count
    return float(need[leaves].sum())


def concat_cohorts(parts: list[Cohorts]) -> Cohorts:
    """The cohorts of ``parts``, one after another."""
    return _concat([p.__dict__ for p in parts])


def _concat(parts: list[dict[str, npt.NDArray[np.generic]]]) -> Cohorts:
    names = list(Cohorts.__dataclass_fields__)
    if not parts:
        return Cohorts(**{k: np.zeros(0, dtype=_dtype(k)) for k in names})
    return Cohorts(**{k: np.concatenate([p[k] for p in parts]).astype(_dtype(k)) for k in names})


def _dtype(name: str) -> type:
    ints = {"direction", "vclass", "entry_step", "entry_ic", "exit_ic", "soc_bin"}
    return np.int64 if name in ints else np.float64


@dataclass(frozen=True)
class Exposure:
    """Where and when each cohort's vehicles can charge, one entry per (cohort, step, substation).

    Attributes
    ----------
    cohort, step, substation : ndarray of int64
    max_kwh : ndarray [kWh]
        Most energy one vehicle can take into its battery there in that step (receiver and
        segment limits, coil coverage, time on energised segments).
    efficiency : ndarray [-]
        Grid-to-battery efficiency (energy-weighted over the segments involved).
    """

    cohort: IntArray
    step: IntArray
    substation: IntArray
    max_kwh: FloatArray
    efficiency: FloatArray

    def __len__(self) -> int:
        return len(self.cohort)


def exposure(cohorts: Cohorts, layout: Layout, n_steps: int, step_h: float) -> Exposure:
    """Charging opportunities of every cohort in model steps ``0 .. n_steps - 1``.

    A vehicle drives at its cohort's constant speed from ``entry_m`` at ``entry_h`` to
    ``exit_m``; on a segment it can take ``min(receiver, segment vehicle limit) × coverage``
    (battery side). Time on each segment is split over the planning steps it spans.
    """
    n_sub = layout.n_substations
    keys, xsums, gsums = [], [], []
    for d in (0, 1):
        segs = np.flatnonzero(layout.seg_direction == d)
        coh = np.flatnonzero(cohorts.direction == d)
        if len(segs) == 0 or len(coh) == 0:
            continue
        chunk = max(1, _CHUNK_PAIRS // len(segs))
        s0, s1 = layout.seg_start_m[segs], layout.seg_end_m[segs]
        for lo in range(0, len(coh), chunk):
            kk_all = coh[lo : lo + chunk]
            e0 = cohorts.entry_m[kk_all][:, None]
            e1 = cohorts.exit_m[kk_all][:, None]
            a = np.maximum(s0[None, :], e0)
            b = np.minimum(s1[None, :], e1)
            row, col = np.nonzero(b > a)
            k = kk_all[row]
            seg = segs[col]
            v_h = cohorts.speed_mps[k] * 3600.0
            ta = cohorts.entry_h[k] + (a[row, col] - cohorts.entry_m[k]) / v_h
            tb = cohorts.entry_h[k] + (b[row, col] - cohorts.entry_m[k]) / v_h
            del a, b, row, col
            sa = np.floor(ta / step_h).astype(np.int64)
            sb = np.floor(np.nextafter(tb, -np.inf) / step_h).astype(np.int64)
            power = np.minimum(cohorts.receiver_kw[k], layout.seg_vehicle_limit_kw[seg])
            power = power * layout.seg_coverage[seg]
            span = sb - sa
            ks, ts, ss, xs, gs = [], [], [], [], []
            for j in range(int(span.max(initial=0)) + 1):
                m = span >= j
                st = sa[m] + j
                dur = np.minimum(tb[m], (st + 1) * step_h) - np.maximum(ta[m], st * step_h)
                xbar = power[m] * np.clip(dur, 0.0, None)
                ks.append(k[m])
                ts.append(st)
                ss.append(layout.seg_substation[seg[m]].astype(np.int64))
                xs.append(xbar)
                gs.append(xbar / layout.seg_efficiency[seg[m]])
            # a cohort lies in one chunk: its (step, substation) entries are summed here, so
            # only one chunk's segment entries are ever held at once
            kc, tc, sc = np.concatenate(ks), np.concatenate(ts), np.concatenate(ss)
            xc, gc = np.concatenate(xs), np.concatenate(gs)
            keep = (tc >= 0) & (tc < n_steps) & (xc > 1e-9)
            key = (kc[keep] * n_steps + tc[keep]) * n_sub + sc[keep]
            uniq, inv = np.unique(key, return_inverse=True)
            keys.append(uniq)
            xsums.append(np.bincount(inv, weights=xc[keep], minlength=len(uniq)))
            gsums.append(np.bincount(inv, weights=gc[keep], minlength=len(uniq)))
    if not keys:
        z = np.zeros(0, dtype=np.int64)
        return Exposure(z, z, z, np.zeros(0), np.zeros(0))
    key = np.concatenate(keys)
    order = np.argsort(key, kind="stable")  # the keys are unique: one order, by key
    key = key[order]
    xsum = np.asarray(np.concatenate(xsums)[order], dtype=np.float64)
    gsum = np.asarray(np.concatenate(gsums)[order], dtype=np.float64)
    return Exposure(
        cohort=key // (n_steps * n_sub),
        step=(key // n_sub) % n_steps,
        substation=key % n_sub,
        max_kwh=xsum,
        efficiency=xsum / gsum,
    )


def drop_idle(cohorts: Cohorts, expo: Exposure) -> tuple[Cohorts, Exposure]:
    """Drop cohorts that cannot charge anywhere in the model (nothing to decide for them)."""
    keep = np.unique(expo.cohort)
    return cohorts.take(keep), Exposure(
        cohort=np.searchsorted(keep, expo.cohort),
        step=expo.step,
        substation=expo.substation,
        max_kwh=expo.max_kwh,
        efficiency=expo.efficiency,
    )
