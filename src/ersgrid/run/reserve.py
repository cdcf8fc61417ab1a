"""Frequency-reserve study of a run: the headroom the plan left, offered as a symmetric
reserve, tested against the product's rules in every disturbance of the built-in set.

Headroom per 15-min step (grid side, from what the twin measured):

- **up** (frequency low, the road gives relief): all charging can be cut, and V2G vehicles
  can return what they offered (``v2g_potential_kw``);
- **down** (frequency high, the road takes more): what vehicles asked for and did not get
  (``road_request_kw`` − charging), plus V2G that can stop.

The symmetric reserve offered is ``offer_share × min(up, down)``. Each disturbance is played
at the step of the smallest positive reserve of the run (the worst credible case) and at the
step of the median reserve.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ersgrid.control.base import Dispatch, Observation, RunContext, Strategy
from ersgrid.grid.frequency import FrequencyTrace, ReserveEvent, assess_event, assess_recording
from ersgrid.run.runner import RunResult
from ersgrid.scenario.v2g import wear_cost
from ersgrid.timeindex import PLANNING_STEP_H

__all__ = ["FrequencyRecording", "HoldHeadroom", "ReserveStudy", "headroom_kw", "reserve_study"]

FloatArray = npt.NDArray[np.float64]


class HoldHeadroom(Strategy):
    """Wrap a strategy and hold back a share of the road's demand as reserve headroom.

    Each substation's limit becomes at most ``(1 − share)`` times what its vehicles asked for
    in the previous planning step (persistence), so the road can take more when frequency
    rises and cut its draw when it falls. The rule an operator without a reserve-aware
    optimiser would run; the energy it holds back shows in ``unmet_energy_kwh``.
    """

    def __init__(self, base: Strategy, share: float) -> None:
        self.base = base
        self.share = share
        self.name = f"{base.name}+hold{share:g}"  # type: ignore[misc]

    def reset(self, context: RunContext) -> None:
        super().reset(context)
        self.base.reset(context)

    def decide(self, observation: Observation) -> Dispatch:
        d = self.base.decide(observation)
        self.fallbacks = int(getattr(self.base, "fallbacks", 0))
        last = observation.last
        if last is None:
            return d
        lay = self.context.layout
        asked_kw = (
            np.bincount(
                lay.seg_substation, weights=last.seg_request_kwh, minlength=lay.n_substations
            )
            / last.duration_h
        )
        held = np.minimum(d.sub_limit_kw, (1.0 - self.share) * asked_kw)
        return replace(d, sub_limit_kw=held)


def headroom_kw(result: RunResult) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Up and down headroom and the symmetric reserve offered, per step [kW]."""
    ts = result.timeseries
    v2g = ts["v2g_discharge_kw"].to_numpy()
    charging = ts["road_power_kw"].to_numpy() + v2g
    up = np.maximum(charging, 0.0) + ts["v2g_potential_kw"].to_numpy()
    down = np.maximum(ts["road_request_kw"].to_numpy() - charging, 0.0) + v2g
    sym = result.scenario.reserve.offer_share * np.minimum(up, down)
    return up, down, sym


@dataclass(frozen=True)
class ReserveStudy:
    """Outcome of a reserve study.

    Attributes
    ----------
    reserve_kw : ndarray [kW]
        Symmetric reserve offered at each planning step (one corridor).
    revenue : float [currency]
        Capacity payment over the run: Σ reserve [MW] × price × step.
    events : list of (str, ReserveEvent, FrequencyTrace, FrequencyTrace)
        ``(case, event, trace with the road, trace without)`` per disturbance and case
        (``worst`` or ``median`` step).
    v2g_kwh : float [kWh]
        V2G energy the responses drew beyond cut charging, summed over the events.
    degradation_cost : float [currency]
        That energy priced at the scenario's V2G wear cost.
    """

    reserve_kw: FloatArray
    revenue: float
    events: list[tuple[str, ReserveEvent, FrequencyTrace, FrequencyTrace]]
    v2g_kwh: float
    degradation_cost: float

    @property
    def offered(self) -> bool:
        """Some reserve was offered at some step."""
        return bool(np.any(self.reserve_kw > 1e-6))

    @property
    def all_compliant(self) -> bool:
        """A reserve was offered and every event met the product's activation time and
        energy (false without an offer or without an event: nothing was shown)."""
        return bool(self.events) and all(e.status == "compliant" for _, e, _, _ in self.events)


@dataclass(frozen=True)
class FrequencyRecording:
    """A recorded frequency series to test the reserve against (see
    :func:`ersgrid.grid.frequency.read_frequency_csv`)."""

    name: str
    time_s: FloatArray
    frequency_hz: FloatArray


def reserve_study(result: RunResult, recording: FrequencyRecording | None = None) -> ReserveStudy:
    """Offer the run's headroom as reserve and test it in every built-in disturbance, and
    against a recorded frequency series if one is given."""
    sc = result.scenario
    spec, freq = sc.reserve, sc.frequency
    _, _, sym = headroom_kw(result)
    charging = (
        result.timeseries["road_power_kw"].to_numpy()
        + result.timeseries["v2g_discharge_kw"].to_numpy()
    )
    revenue = float((sym / 1000.0).sum() * spec.capacity_price_per_mw_h * PLANNING_STEP_H)
    positive = np.flatnonzero(sym > 1e-6)
    cases: list[tuple[str, int]] = []
    if positive.size:
        cases.append(("worst", int(positive[np.argmin(sym[positive])])))
        order = positive[np.argsort(sym[positive])]
        cases.append(("median", int(order[len(order) // 2])))
    else:
        cases.append(("worst", int(np.argmin(sym))))
    events = []
    v2g_kwh = 0.0
    for case, k in cases:
        for dist in freq.disturbances:
            event, with_road, without = assess_event(freq, dist, spec, sym[k] / 1000.0)
            events.append((case, event, with_road, without))
            cut_mw = charging[k] / 1000.0 * spec.aggregation_factor
            beyond = np.maximum(with_road.road_mw - cut_mw, 0.0)
            v2g_kwh += float(beyond.sum() * freq.step_s / 3600.0 * 1000.0)
        if recording is not None:
            event, trace = assess_recording(
                recording.name, recording.time_s, recording.frequency_hz,
                float(freq.nominal_hz), spec, sym[k] / 1000.0, freq.step_s,
            )  # fmt: skip
            events.append((case, event, trace, trace))
            cut_mw = charging[k] / 1000.0 * spec.aggregation_factor
            beyond = np.maximum(trace.road_mw - cut_mw, 0.0)
            v2g_kwh += float(beyond.sum() * freq.step_s / 3600.0 * 1000.0)
    wear = wear_cost(sc.v2g, sc.currency)
    return ReserveStudy(
        reserve_kw=sym,
        revenue=revenue,
        events=events,
        v2g_kwh=v2g_kwh,
        degradation_cost=v2g_kwh * wear,
    )
