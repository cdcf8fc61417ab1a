"""Demand-response events turned into import caps, and what the road delivered against them.

A reduction is measured against two baselines, both reported:

- **own**: the import the same run would have had without the events, under the operator's
  own strategy on the same world (the twin's exact counterfactual: same vehicles, same
  weather, same prices);
- **10-of-10** (:func:`cbl_10of10`): a customer baseline load as utilities compute it (e.g.
  CAISO's and PJM's "10 of 10"): at each time of day, the mean import of the 10 most recent
  weekdays before the event's day that are neither public holidays nor event days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import ScenarioError
from ersgrid.scenario.demand_response import DREventSpec
from ersgrid.scenario.layout import Layout

__all__ = [
    "CBL_DAYS",
    "DRPerformance",
    "cbl_10of10",
    "dr_caps",
    "dr_performance",
    "event_steps",
]

CBL_DAYS = 10
"""Weekdays a customer baseline averages."""

FloatArray = npt.NDArray[np.float64]


def event_steps(event: DREventSpec, index: pd.DatetimeIndex) -> npt.NDArray[np.bool_]:
    """Planning steps that overlap the event (a step counts if any part of it is inside)."""
    tz = index.tz
    start = pd.Timestamp(event.start)
    end = pd.Timestamp(event.end)
    start = start.tz_localize(tz) if start.tzinfo is None else start.tz_convert(tz)
    end = end.tz_localize(tz) if end.tzinfo is None else end.tz_convert(tz)
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(minutes=15)
    return np.asarray((index + step > start) & (index < end), dtype=bool)


def _columns(event: DREventSpec, layout: Layout) -> npt.NDArray[np.intp]:
    if event.substations is None:
        return np.arange(layout.n_substations, dtype=np.intp)
    unknown = [s for s in event.substations if s not in layout.sub_ids]
    if unknown:
        raise ScenarioError(
            f"demand-response event {event.event_id!r}: unknown substations {unknown}; "
            f"known: {layout.sub_ids}"
        )
    return np.array([layout.sub_ids.index(s) for s in event.substations], dtype=np.intp)


def dr_caps(
    events: list[DREventSpec],
    index: pd.DatetimeIndex,
    layout: Layout,
    baseline_import_kw: FloatArray | None,
) -> FloatArray:
    """Import cap per step and substation from the opted-in events (inf where none).

    A cap over several substations is split in proportion to their ratings; a shed is taken
    from the baseline import of each substation in the same proportion.

    Parameters
    ----------
    baseline_import_kw : ndarray [kW], shape (steps, substations), optional
        Needed only for shed events.
    """
    caps = np.full((len(index), layout.n_substations), np.inf)
    for event in events:
        if not event.opt_in:
            continue
        mask = event_steps(event, index)
        cols = _columns(event, layout)
        weights = layout.sub_rating_kw[cols] / layout.sub_rating_kw[cols].sum()
        if event.import_cap_kw is not None:
            cap = np.broadcast_to(event.import_cap_kw * weights, (int(mask.sum()), len(cols)))
        else:
            if baseline_import_kw is None:
                raise ScenarioError(
                    f"demand-response event {event.event_id!r} sheds load: it needs a baseline"
                )
            assert event.shed_kw is not None
            base = baseline_import_kw[np.ix_(mask, cols)]
            cap = np.maximum(base - event.shed_kw * weights, 0.0)
        caps[np.ix_(mask, cols)] = np.minimum(caps[np.ix_(mask, cols)], cap)
    return caps


def cbl_10of10(
    index: pd.DatetimeIndex,
    event_mask: npt.NDArray[np.bool_],
    history_index: pd.DatetimeIndex,
    history_import_kw: FloatArray,
    skip_day: npt.NDArray[np.bool_],
) -> FloatArray:
    """The 10-of-10 customer baseline of each step of ``index`` [kW], shape (steps, subs).

    Parameters
    ----------
    index : DatetimeIndex
        The run's planning steps.
    event_mask : ndarray of bool
        Steps inside any event (the baseline is computed there, NaN elsewhere).
    history_index : DatetimeIndex
        Whole local days before and during the run, on the same step grid.
    history_import_kw : ndarray [kW], shape (history steps, substations)
        Metered import of those steps without events.
    skip_day : ndarray of bool, one per history step
        Steps of days that do not count (weekends, public holidays, event days).

    Raises
    ------
    ValueError
        If an event's day has fewer than :data:`CBL_DAYS` eligible days before it.
    """
    out = np.full((len(index), history_import_kw.shape[1]), np.nan)
    days = pd.Index(history_index.normalize())
    tod = np.asarray(history_index.hour * 60 + history_index.minute)
    eligible = pd.Index(days[~skip_day].unique())
    for k in (int(i) for i in np.flatnonzero(event_mask)):
        day = index[k].normalize()
        before = eligible[eligible < day][-CBL_DAYS:]
        if len(before) < CBL_DAYS:
            raise ValueError(
                f"the 10-of-10 baseline of {day.date()} needs {CBL_DAYS} eligible weekdays "
                f"before it, the history has {len(before)}"
            )
        minute = index[k].hour * 60 + index[k].minute
        rows = days.isin(before) & (tod == minute)
        out[k] = history_import_kw[rows].mean(axis=0)
    return out


@dataclass(frozen=True)
class DRPerformance:
    """What the road did during one event, against both baselines.

    Attributes
    ----------
    event_id : str
    opt_in : bool
    steps : int
        Planning steps inside the event.
    baseline_kwh, actual_kwh : float [kWh]
        Import of the substations concerned under the own baseline (the run's strategy
        without the events) and in the run.
    reduction_kwh : float [kWh]
        ``baseline_kwh - actual_kwh``.
    mean_reduction_kw : float [kW]
    cbl_kwh : float [kWh]
        Import under the 10-of-10 customer baseline (NaN where it could not be computed).
    reduction_cbl_kwh : float [kWh]
        ``cbl_kwh - actual_kwh``.
    mean_reduction_cbl_kw : float [kW]
    max_excess_kw : float [kW]
        Largest step import above the cap (0 when the cap held in every step).
    honoured : bool
        The cap held in every step of the event (opted-in events only).
    """

    event_id: str
    opt_in: bool
    steps: int
    baseline_kwh: float
    actual_kwh: float
    reduction_kwh: float
    mean_reduction_kw: float
    cbl_kwh: float
    reduction_cbl_kwh: float
    mean_reduction_cbl_kw: float
    max_excess_kw: float
    honoured: bool


def dr_performance(
    events: list[DREventSpec],
    index: pd.DatetimeIndex,
    layout: Layout,
    caps_kw: FloatArray,
    baseline_import_kw: FloatArray,
    actual_import_kw: FloatArray,
    step_h: float,
    cbl_import_kw: FloatArray | None = None,
) -> list[DRPerformance]:
    """The delivered reduction of each event against both baselines, and whether caps held.

    Parameters
    ----------
    caps_kw, baseline_import_kw, actual_import_kw : ndarray [kW], shape (steps, substations)
        The caps in force, the own baseline's import and the run's.
    step_h : float [h]
    cbl_import_kw : ndarray [kW], shape (steps, substations), optional
        The 10-of-10 customer baseline (:func:`cbl_10of10`).
    """
    out = []
    for event in events:
        mask = event_steps(event, index)
        cols = _columns(event, layout)
        base = baseline_import_kw[np.ix_(mask, cols)].sum(axis=1)
        actual = actual_import_kw[np.ix_(mask, cols)].sum(axis=1)
        cap = caps_kw[np.ix_(mask, cols)].sum(axis=1)
        excess = np.maximum(actual - cap, 0.0) if event.opt_in else np.zeros_like(actual)
        steps = int(mask.sum())
        reduction = float((base - actual).sum() * step_h)
        cbl = (
            float("nan")
            if cbl_import_kw is None
            else float(cbl_import_kw[np.ix_(mask, cols)].sum() * step_h)
        )
        cbl_reduction = cbl - float(actual.sum() * step_h)
        out.append(
            DRPerformance(
                event_id=event.event_id,
                opt_in=event.opt_in,
                steps=steps,
                baseline_kwh=float(base.sum() * step_h),
                actual_kwh=float(actual.sum() * step_h),
                reduction_kwh=reduction,
                mean_reduction_kw=reduction / (steps * step_h) if steps else 0.0,
                cbl_kwh=cbl,
                reduction_cbl_kwh=cbl_reduction,
                mean_reduction_cbl_kw=cbl_reduction / (steps * step_h) if steps else 0.0,
                max_excess_kw=float(excess.max()) if steps else 0.0,
                honoured=bool(event.opt_in and steps and excess.max() <= 1e-6),
            )
        )
    return out
