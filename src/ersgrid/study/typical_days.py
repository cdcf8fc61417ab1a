"""A year from representative days: the calendar year's days clustered into typical days,
each run as a 1-day run, their KPIs weighed by the days they stand for.

:func:`typical_days` builds the year's :class:`~ersgrid.world.world.World` once and describes
each local day by the profiles a run's money and energy follow (:data:`DAY_FEATURES`, one
value per planning step): the ERS vehicles' charging potential from the world's own arrivals,
the local renewables, the other loads, the grid price and its CO2 intensity. The days are
clustered hierarchically (scipy, Ward's criterion, on min-max normalised and weighted
profiles) and each cluster is represented by its medoid: a real calendar day of that year, so
the twin can run it with that day's arrivals, weather and prices. The day of the vehicles'
highest charging potential is a typical day of its own (weight 1) and the other days form the
other clusters: the year's peak import, which sets the demand charge, falls on its busiest
days, and a medoid seldom is one. A cluster's weight is the number of days in it; the weights
sum to the days of the year (365 or 366).

:func:`representative_year` runs every typical day as a 1-day run of the scenario on that date
(warmed up as every fresh run) and combines their KPIs with the weights
(:func:`~ersgrid.run.kpis.combine_kpis`): sums are weighted, peaks are the highest of the
typical days. With one cluster per day every day is its own medoid of weight 1, and the
combined sums are those of the year's days run one by one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import ScenarioError
from ersgrid.run.kpis import combine_kpis
from ersgrid.run.runner import run
from ersgrid.scenario.schema import Scenario
from ersgrid.timeindex import planning_index
from ersgrid.world.world import World, build_world

if TYPE_CHECKING:
    from ersgrid.study.economics import Economics

__all__ = [
    "DAY_FEATURES",
    "PEAK_FEATURE",
    "RepresentativeYear",
    "TypicalDays",
    "cluster_days",
    "day_profiles",
    "representative_year",
    "typical_days",
    "year_economics",
    "year_kpis",
]

FloatArray = npt.NDArray[np.float64]

DAY_FEATURES: dict[str, float] = {
    "ers_potential_kwh": 4.0,
    "renewable_kw": 1.0,
    "other_load_kw": 0.5,
    "price_per_kwh": 1.0,
    "co2_kg_per_kwh": 0.5,
}
"""The profiles that describe a day, and their weights in the clustering [-]:

- ``ers_potential_kwh``: the energy the ERS vehicles entering in each step could take from
  the road on their trip, from the world's arrivals (receiver power times the hours on
  energised lane, coverage included, at most the room in their battery) [kWh/step];
- ``renewable_kw``: the local plants' output at all connections [kW];
- ``other_load_kw``: the other loads at all connections (service areas, network loads) [kW];
- ``price_per_kwh``: the grid energy price [currency/kWh];
- ``co2_kg_per_kwh``: the CO2 intensity of grid imports [kg/kWh].

The vehicles' potential weighs most: the energy delivered and its cost follow it. A profile
that is the same at every step of the year (a flat price) tells no day from another and is
left out."""


PEAK_FEATURE = "ers_potential_kwh"
"""The profile whose busiest day is a typical day of its own (:func:`cluster_days`)."""


@dataclass(frozen=True)
class TypicalDays:
    """The typical days of one calendar year and the days each stands for.

    Attributes
    ----------
    year : int
    dates : tuple of date
        The typical days (each a medoid: a real day of ``year``), in calendar order.
    weights : tuple of int [d]
        Days of the year each typical day stands for; they sum to the days of the year.
    assignment : tuple of int
        For each day of the year (1 January first), the index into ``dates`` of its typical
        day.
    features : tuple of str
        The profiles the days were clustered on (:data:`DAY_FEATURES` that vary).
    """

    year: int
    dates: tuple[dt.date, ...]
    weights: tuple[int, ...]
    assignment: tuple[int, ...]
    features: tuple[str, ...]

    @property
    def days_in_year(self) -> int:
        """Days of the calendar year (365 or 366) [d]."""
        return len(self.assignment)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: each typical day with its weight and the days it stands for."""
        first = dt.date(self.year, 1, 1)
        members: list[list[str]] = [[] for _ in self.dates]
        for d, c in enumerate(self.assignment):
            members[c].append((first + dt.timedelta(days=d)).isoformat())
        return {
            "year": self.year,
            "days_in_year": self.days_in_year,
            "features": list(self.features),
            "typical_days": [
                {"date": day.isoformat(), "weight": w, "days": m}
                for day, w, m in zip(self.dates, self.weights, members, strict=True)
            ],
        }


def _year_index(scenario: Scenario, year: int) -> pd.DatetimeIndex:
    days = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
    return planning_index(scenario, float(days), dt.date(year, 1, 1))


def _ers_potential_kwh(world: World) -> FloatArray:
    """Per step: the energy the ERS vehicles entering then could take on their trip [kWh]."""
    arrivals = world.arrivals
    layout = world.layout
    step_s = world.step_h * 3600.0
    n = len(world.index)
    if len(arrivals) == 0:
        return np.zeros(n, dtype=np.float64)
    # coverage-weighted energised metres up to each metre of travel, per direction
    coverage = np.where(layout.lut >= 0, layout.seg_coverage[np.maximum(layout.lut, 0)], 0.0)
    energised = np.concatenate([np.zeros((2, 1)), np.cumsum(coverage, axis=1)], axis=1)
    top = energised.shape[1] - 1
    d = arrivals.direction.astype(np.int64)
    lo = np.clip(np.rint(arrivals.entry_m).astype(np.int64), 0, top)
    hi = np.clip(np.rint(arrivals.exit_m).astype(np.int64), 0, top)
    on_coils_m = np.maximum(energised[d, hi] - energised[d, lo], 0.0)
    per_vehicle_kw = np.minimum(arrivals.receiver_kw, float(layout.seg_vehicle_limit_kw.max()))
    could_kwh = per_vehicle_kw * on_coils_m / np.maximum(arrivals.speed_mps, 1e-9) / 3600.0
    trip_kwh = arrivals.consumption_kwh_per_m * np.abs(arrivals.exit_m - arrivals.entry_m)
    room_kwh = np.maximum(arrivals.full_kwh - arrivals.energy_kwh + trip_kwh, 0.0)
    step = np.clip((arrivals.time_s // step_s).astype(np.int64), 0, n - 1)
    potential = np.bincount(step, weights=np.minimum(could_kwh, room_kwh), minlength=n)
    return np.asarray(potential, dtype=np.float64)


def day_profiles(world: World) -> pd.DataFrame:
    """The :data:`DAY_FEATURES` profiles of every step of the world (whole local days).

    Returns
    -------
    DataFrame
        Indexed by the world's steps, one column per feature (units in
        :data:`DAY_FEATURES`).
    """
    energy = world.energy
    return pd.DataFrame(
        {
            "ers_potential_kwh": _ers_potential_kwh(world),
            "renewable_kw": np.nan_to_num(energy.renewable_kw).sum(axis=1),
            "other_load_kw": np.nan_to_num(energy.other_load_kw).sum(axis=1),
            "price_per_kwh": np.asarray(world.price_per_kwh, dtype=np.float64),
            "co2_kg_per_kwh": np.asarray(world.co2_kg_per_kwh, dtype=np.float64),
        },
        index=world.index,
    )


def cluster_days(
    profiles: pd.DataFrame,
    k: int,
    weights: Mapping[str, float] | None = None,
    peak: str | None = PEAK_FEATURE,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], tuple[str, ...]]:
    """Cluster whole days of step profiles into ``k`` groups, each with a medoid day.

    Parameters
    ----------
    profiles : DataFrame
        One row per step of whole days (the same number of steps each day), one column per
        profile (:func:`day_profiles`).
    k : int
        Typical days, ``1 <= k <= days``.
    weights : mapping of str to float, optional
        Weight of each column in the distance (:data:`DAY_FEATURES` by default; a column
        without one weighs 1).
    peak : str or None
        With ``k >= 2``, the day of the highest daily sum of this column (the first such day)
        is a typical day of its own (weight 1) and the other days form ``k - 1`` clusters:
        the year's peaks fall on its busiest days, which a medoid seldom is. None (or a
        column not in ``profiles``): ``k`` clusters of all days.

    Returns
    -------
    medoids : ndarray of int
        Day number (0 = the first day) of each cluster's medoid, ascending.
    labels : ndarray of int
        For each day, the index into ``medoids`` of its cluster.
    columns : tuple of str
        The columns used: those whose profile is not the same every day. When none differs,
        one day (the middle one) stands for all, whatever ``k``.
    """
    weights = DAY_FEATURES if weights is None else weights
    steps_per_day = _steps_per_day(profiles)
    days = len(profiles) // steps_per_day
    if not 1 <= k <= days:
        raise ValueError(f"k = {k}: give 1 to {days} typical days")
    varying = [c for c in profiles.columns if _differs(profiles[c], days)]
    if k == days:
        every = np.arange(days, dtype=np.int64)
        return every, every.copy(), tuple(varying)
    if not varying:  # every day alike: one of them stands for all
        return np.array([days // 2], dtype=np.int64), np.zeros(days, dtype=np.int64), ()
    by_day = profiles[varying].to_numpy(dtype=np.float64).reshape(days, steps_per_day, -1)
    rest = np.arange(days, dtype=np.int64)
    busiest: int | None = None
    if peak is not None and peak in varying and k >= 2:
        busiest = int(np.argmax(by_day[:, :, varying.index(peak)].sum(axis=1)))
        rest = np.delete(rest, busiest)
        k -= 1
    centers, order = _medoids(by_day[rest], k, varying, weights)
    centers = rest[centers]
    if busiest is not None:
        labels = np.empty(days, dtype=np.int64)
        labels[rest] = order
        labels[busiest] = len(centers)
        centers = np.append(centers, busiest)
    else:
        labels = order
    # renumber the clusters by the date of their medoid
    rank = np.argsort(centers, kind="stable")
    new_of = np.empty_like(rank)
    new_of[rank] = np.arange(len(rank))
    return centers[rank], new_of[labels], tuple(varying)


def _medoids(
    by_day: FloatArray, k: int, columns: list[str], weights: Mapping[str, float]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Hierarchical clustering of days (``by_day``: days × steps × columns) into ``k`` by
    Ward's criterion (scipy) on min-max normalised, weighted profiles: the medoid of each
    cluster (the member with the least summed distance to the others) and each day's
    cluster, clusters numbered by their first day."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import cdist

    n = by_day.shape[0]
    if k >= n:
        every = np.arange(n, dtype=np.int64)
        return every, every.copy()
    lo = by_day.min(axis=(0, 1))
    span = by_day.max(axis=(0, 1)) - lo
    scaled = (by_day - lo) / np.where(span > 0.0, span, 1.0)
    scaled = scaled * np.sqrt([float(weights.get(c, 1.0)) for c in columns])
    flat = scaled.reshape(n, -1)
    if k == 1:
        raw = np.zeros(n, dtype=np.int64)
    else:
        raw = fcluster(linkage(flat, method="ward"), t=k, criterion="maxclust")
    _, first, order = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))[order]  # number clusters by their first day
    centers = np.empty(int(order.max()) + 1, dtype=np.int64)
    for c in range(len(centers)):
        members = np.flatnonzero(order == c)
        d = cdist(flat[members], flat[members]).sum(axis=1)
        centers[c] = members[int(np.argmin(d))]
    return centers, order.astype(np.int64)


def _differs(column: pd.Series, days: int) -> bool:
    """True if the column's profile is not the same every day."""
    by_day = column.to_numpy(dtype=np.float64).reshape(days, -1)
    return bool(np.any(np.abs(by_day - by_day[0]) > 1e-12 * (1.0 + np.abs(by_day[0]))))


def _steps_per_day(profiles: pd.DataFrame) -> int:
    index = profiles.index
    if isinstance(index, pd.DatetimeIndex) and len(index) > 1:
        step = index[1] - index[0]
        per = round(pd.Timedelta(days=1) / step)
    else:
        per = 96
    if per <= 0 or len(profiles) % per:
        raise ValueError(f"{len(profiles)} steps are not whole days of {per} steps")
    return int(per)


def typical_days(
    scenario: Scenario,
    k: int,
    year: int | None = None,
    weights: Mapping[str, float] | None = None,
) -> TypicalDays:
    """The ``k`` typical days of a calendar year of ``scenario`` and their weights.

    Parameters
    ----------
    scenario : Scenario
        Resolved (seed and overrides applied): the arrivals are those of its seed.
    k : int
        Number of typical days, 1 to the days of the year.
    year : int, optional
        Calendar year; that of ``simulation.start`` by default.
    weights : mapping of str to float, optional
        Weights of the profiles (:data:`DAY_FEATURES` by default).

    Raises
    ------
    ScenarioError
        If ``k`` is out of range or the year is outside the scenario's calendar.
    """
    year = scenario.simulation.start.year if year is None else int(year)
    index = _year_index(scenario, year)
    days = len(index) * scenario.simulation.planning_step_min // 1440
    if not 1 <= k <= days:
        raise ScenarioError(f"--typical-days {k}: give 1 to {days} days for {year}")
    world = build_world(scenario, index)
    profiles = day_profiles(world)
    medoids, labels, used = cluster_days(profiles, k, weights)
    first = dt.date(year, 1, 1)
    counts = np.bincount(labels, minlength=len(medoids))
    return TypicalDays(
        year=year,
        dates=tuple(first + dt.timedelta(days=int(m)) for m in medoids),
        weights=tuple(int(c) for c in counts),
        assignment=tuple(int(c) for c in labels),
        features=used,
    )


@dataclass(frozen=True)
class RepresentativeYear:
    """A year of a scenario under a strategy from its typical days.

    Attributes
    ----------
    typical : TypicalDays
    strategy : str
    day_kpis : list of dict
        Each typical day's 1-day run KPIs, in the order of ``typical.dates``.
    kpis : dict
        The year's KPIs: :func:`~ersgrid.run.kpis.combine_kpis` of ``day_kpis`` with the
        typical days' weights (``days`` is the days of the year), plus ``typical_days`` (the
        number of them) and ``start`` (1 January of the year).
    wall_time_s : float [s]
        Time the clustering and the runs took.
    """

    typical: TypicalDays
    strategy: str
    day_kpis: list[dict[str, Any]]
    kpis: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = math.nan


def year_kpis(typical: TypicalDays, day_kpis: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The year's KPIs from each typical day's KPIs (in the order of ``typical.dates``)."""
    if len(day_kpis) != len(typical.dates):
        raise ValueError(f"{len(day_kpis)} day runs for {len(typical.dates)} typical days")
    out = combine_kpis(day_kpis, weights=[float(w) for w in typical.weights])
    out["start"] = str(pd.Timestamp(dt.date(typical.year, 1, 1)).tz_localize(
        str(pd.Timestamp(str(day_kpis[0]["start"])).tz)
    ))  # fmt: skip
    out["typical_days"] = len(typical.dates)
    return out


def representative_year(
    scenario: Scenario,
    strategy: str = "uncontrolled",
    typical: TypicalDays | int = 12,
    year: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RepresentativeYear:
    """Run the typical days of a year and combine them into the year's KPIs.

    Parameters
    ----------
    scenario : Scenario
        Resolved (seed and overrides applied).
    strategy : str
        Built-in strategy name or ``module:Class`` (a fresh instance for each day).
    typical : TypicalDays or int
        The typical days, or how many to find (:func:`typical_days`).
    year : int, optional
        Calendar year when ``typical`` is a number.
    progress : callable, optional
        Called as ``progress(done_days, typical_days)`` after each day's run.
    """
    import time

    wall0 = time.perf_counter()
    if isinstance(typical, int):
        typical = typical_days(scenario, typical, year)
    day_kpis: list[dict[str, Any]] = []
    for i, day in enumerate(typical.dates):
        result = run(scenario, strategy, days=1.0, start=day)
        day_kpis.append(dict(result.kpis))
        if progress is not None:
            progress(i + 1, len(typical.dates))
    return RepresentativeYear(
        typical=typical,
        strategy=strategy,
        day_kpis=day_kpis,
        kpis=year_kpis(typical, day_kpis),
        wall_time_s=time.perf_counter() - wall0,
    )


def year_economics(scenario: Scenario, year: RepresentativeYear) -> Economics:
    """The economics of the representative year (:func:`~ersgrid.study.economics.compute_economics`
    on its combined KPIs).

    The KPIs already cover the calendar year, so ``economics.annualise.days_per_year`` scales
    them by ``days_per_year / days of the year`` (1 at 365 operating days in a common year);
    ``day_weights``, which weigh the days of one run, do not apply and are ignored. There are
    no settlement statements: no profit and loss per party.
    """
    from ersgrid.study.economics import compute_economics

    spec = scenario.economics
    annual = spec.annualise.model_copy(update={"day_weights": None})
    resolved = scenario.model_copy(
        update={"economics": spec.model_copy(update={"annualise": annual})}
    )
    return compute_economics(resolved, year.kpis)
