"""System frequency at sub-second steps, and the road's droop response to it.

The synchronous area is one aggregate swing equation (Kundur's single-area model)::

    2H · dΔf/dt = ΔP_gov + ΔP_road − ΔP_dist − D · Δf          (per unit of system_mw)
    T_g · dΔP_gov/dt = −(share / R) · Δf − ΔP_gov

The road answers a measured frequency (delayed by ``measurement_delay_s``) with a droop and
deadband; its segments follow with a first-order lag (``response_time_constant_s``) within
the reserve the plan left: cutting charging (and discharging V2G) when frequency falls,
raising charging when it rises. ``ΔP_road`` counts as relief to the system (positive when
the road reduces its draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError
from ersgrid.scenario.reserve import DisturbanceSpec, FrequencySpec, ReserveSpec

__all__ = [
    "FrequencyTrace",
    "ReserveEvent",
    "assess_event",
    "assess_recording",
    "droop_response",
    "follow_recording",
    "read_frequency_csv",
    "simulate",
    "steady_deviation_hz",
]

FloatArray = npt.NDArray[np.float64]

REQUIRED_SHARE = 0.95
"""Share of the required response that counts as delivered (tolerance of the checks) [-]."""


def droop_response(deviation_hz: FloatArray, reserve_mw: float, reserve: ReserveSpec) -> FloatArray:
    """Required relief from the road for a frequency deviation (ideal droop with deadband).

    Parameters
    ----------
    deviation_hz : ndarray [Hz]
        Frequency minus nominal.
    reserve_mw : float [MW]
        Reserve capacity offered (full activation).
    reserve : ReserveSpec

    Returns
    -------
    ndarray [MW]
        Positive when frequency is low (the road reduces its draw), negative when high.
    """
    dev_mhz = -1000.0 * np.asarray(deviation_hz, dtype=np.float64)
    span = reserve.full_activation_mhz - reserve.deadband_mhz
    share = np.clip((np.abs(dev_mhz) - reserve.deadband_mhz) / span, 0.0, 1.0)
    return np.sign(dev_mhz) * share * reserve_mw


@dataclass(frozen=True)
class FrequencyTrace:
    """One simulated disturbance.

    Attributes
    ----------
    time_s : ndarray [s]
    frequency_hz : ndarray [Hz]
    road_mw : ndarray [MW]
        Relief delivered by the road (positive: less draw or V2G discharge).
    required_mw : ndarray [MW]
        Ideal droop response to the true frequency.
    """

    time_s: FloatArray
    frequency_hz: FloatArray
    road_mw: FloatArray
    required_mw: FloatArray


def simulate(
    freq: FrequencySpec,
    disturbance: DisturbanceSpec,
    reserve: ReserveSpec,
    reserve_up_mw: float,
    reserve_down_mw: float,
) -> FrequencyTrace:
    """Simulate the area's frequency after a disturbance with the road's reserve.

    Parameters
    ----------
    freq : FrequencySpec
    disturbance : DisturbanceSpec
    reserve : ReserveSpec
    reserve_up_mw : float [MW]
        Relief the road can give when frequency falls (charging it can cut, V2G it can add).
    reserve_down_mw : float [MW]
        Extra draw the road can take when frequency rises.
    """
    dt = freq.step_s
    n = round(freq.duration_s / dt) + 1
    t = np.arange(n, dtype=np.float64) * dt
    base = freq.system_mw
    f0 = float(freq.nominal_hz)
    two_h = 2.0 * freq.inertia_s
    gain = freq.governor_share / freq.governor_droop_pu
    offered = max(reserve_up_mw, reserve_down_mw)
    delay = round(reserve.measurement_delay_s / dt)
    alpha = dt / (reserve.response_time_constant_s + dt)
    df = np.zeros(n)  # per unit
    road = np.zeros(n)  # MW
    p_gov = 0.0
    p_road = 0.0
    for k in range(1, n):
        d_prev = df[k - 1]
        p_dist = disturbance.delta_mw / base if t[k - 1] >= disturbance.time_s else 0.0
        measured = df[max(k - 1 - delay, 0)] * f0
        target = float(droop_response(np.array([measured]), offered, reserve)[0])
        target = min(max(target, -reserve_down_mw), reserve_up_mw)
        p_road += alpha * (target - p_road)
        accel = (p_gov + p_road / base - p_dist - freq.load_damping_pu * d_prev) / two_h
        df[k] = d_prev + dt * accel
        p_gov += dt * (-gain * d_prev - p_gov) / freq.governor_time_s
        road[k] = p_road
    required = droop_response(df * f0, offered, reserve)
    required = np.clip(required, -reserve_down_mw, reserve_up_mw)
    return FrequencyTrace(
        time_s=t, frequency_hz=f0 * (1.0 + df), road_mw=road, required_mw=required
    )


@dataclass(frozen=True)
class ReserveEvent:
    """How the road's reserve did in one disturbance, against the product's rules.

    Attributes
    ----------
    name : str
    delta_mw : float [MW]
    reserve_mw : float [MW]
        Symmetric reserve offered (after aggregation).
    nadir_hz, nadir_without_hz : float [Hz]
        Extreme frequency (lowest for a loss of generation, highest for a loss of load)
        with and without the road's reserve.
    activation_lag_s : float [s]
        Smallest lag L such that at every t the road delivered at least 95 % of the least
        response required throughout [t − L, t].
    activation_time_s : float [s]
        The product's limit.
    required_mwh, delivered_mwh : float [MWh]
        Energy of the required and delivered response over the sustain window.
    compliant : bool
        A reserve was offered, activated within the limit, and delivered at least 95 % of the
        required energy (never true without an offer).
    """

    name: str
    delta_mw: float
    reserve_mw: float
    nadir_hz: float
    nadir_without_hz: float
    activation_lag_s: float
    activation_time_s: float
    required_mwh: float
    delivered_mwh: float
    compliant: bool

    @property
    def status(self) -> str:
        """``no offer`` (nothing was offered: there is nothing to comply with),
        ``compliant`` or ``not compliant``."""
        if self.reserve_mw <= 0.0:
            return "no offer"
        return "compliant" if self.compliant else "not compliant"


def _activation_lag(trace: FrequencyTrace, dt: float, limit_steps: int) -> float:
    """Smallest lag L such that the road always delivered 95 % of the least response that
    was required throughout the preceding L seconds (``inf`` if none up to the limit)."""
    peak = int(np.argmax(np.abs(trace.required_mw)))
    sign = float(np.sign(trace.required_mw[peak])) or 1.0
    req = np.maximum(sign * trace.required_mw, 0.0)
    got = sign * trace.road_mw
    tol = 1e-9 + 1e-6 * float(np.max(req, initial=0.0))
    window_min = req.copy()
    for lag in range(limit_steps + 1):
        if lag:
            shifted = np.concatenate([np.zeros(lag), req[: len(req) - lag]])
            np.minimum(window_min, shifted, out=window_min)
        if np.all(got + tol >= REQUIRED_SHARE * window_min):
            return lag * dt
    return float("inf")


def _judge(
    trace: FrequencyTrace,
    window: slice,
    step_s: float,
    reserve: ReserveSpec,
    pooled_mw: float,
    idle_lag_s: float,
    idle_without_demand: bool,
) -> tuple[float, float, float, bool]:
    """Required and delivered energy over ``window`` [MWh], activation lag [s] and whether
    the product's rules were met. The lag is ``idle_lag_s`` when no reserve is offered, or
    (with ``idle_without_demand``) when nothing was required."""
    hours = step_s / 3600.0
    req = np.abs(trace.required_mw[window])
    required = float(req.sum() * hours)
    delivered = float(np.minimum(np.abs(trace.road_mw[window]), req).sum() * hours)
    limit_steps = round(3 * reserve.activation_time_s / step_s)
    active = pooled_mw > 0 and (required > 0.0 or not idle_without_demand)
    lag = _activation_lag(trace, step_s, limit_steps) if active else idle_lag_s
    compliant = bool(
        pooled_mw > 0
        and lag <= reserve.activation_time_s
        and delivered >= REQUIRED_SHARE * required - 1e-12
    )
    return required, delivered, lag, compliant


def assess_event(
    freq: FrequencySpec,
    disturbance: DisturbanceSpec,
    reserve: ReserveSpec,
    reserve_mw: float,
) -> tuple[ReserveEvent, FrequencyTrace, FrequencyTrace]:
    """Simulate a disturbance with and without the road's symmetric reserve and assess it.

    Parameters
    ----------
    reserve_mw : float [MW]
        Symmetric reserve of one corridor; multiplied by ``reserve.aggregation_factor``.

    Returns
    -------
    (ReserveEvent, trace with the road, trace without)
    """
    pooled = reserve_mw * reserve.aggregation_factor
    with_road = simulate(freq, disturbance, reserve, pooled, pooled)
    without = simulate(freq, disturbance, reserve, 0.0, 0.0)
    falling = disturbance.delta_mw >= 0
    extreme = np.min if falling else np.max
    start = round(disturbance.time_s / freq.step_s)
    window = slice(start, start + round(reserve.sustain_s / freq.step_s) + 1)
    required, delivered, lag, compliant = _judge(
        with_road, window, freq.step_s, reserve, pooled, float("nan"), idle_without_demand=False
    )
    event = ReserveEvent(
        name=disturbance.name,
        delta_mw=disturbance.delta_mw,
        reserve_mw=pooled,
        nadir_hz=float(extreme(with_road.frequency_hz)),
        nadir_without_hz=float(extreme(without.frequency_hz)),
        activation_lag_s=lag,
        activation_time_s=reserve.activation_time_s,
        required_mwh=required,
        delivered_mwh=delivered,
        compliant=compliant,
    )
    return event, with_road, without


def read_frequency_csv(path: str | Path) -> tuple[FloatArray, FloatArray]:
    """A recorded frequency series: ``time_s`` (or ISO ``timestamp``) and ``frequency_hz``.

    Returns time from the first sample [s] and frequency [Hz]. Raises :class:`DataError`
    naming the file and the first bad line (CSV line numbers, header = line 1).
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the frequency CSV: {err}") from err
    if "frequency_hz" not in frame.columns or not ({"time_s", "timestamp"} & set(frame.columns)):
        raise DataError(
            f"{path}: a frequency recording needs the columns time_s (or timestamp) and "
            f"frequency_hz; found {', '.join(map(str, frame.columns))}"
        )
    if len(frame) < 2:
        raise DataError(f"{path}: a frequency recording needs at least two samples")
    freq = pd.to_numeric(frame["frequency_hz"], errors="coerce").to_numpy(dtype=np.float64)
    if "time_s" in frame.columns:
        t = pd.to_numeric(frame["time_s"], errors="coerce").to_numpy(dtype=np.float64)
    else:
        stamps = pd.to_datetime(frame["timestamp"], errors="coerce", utc=True)
        t = ((stamps - stamps.iloc[0]).dt.total_seconds()).to_numpy(dtype=np.float64)
    bad = ~np.isfinite(freq) | ~np.isfinite(t) | (freq < 40.0) | (freq > 70.0)
    if bad.any():
        line = int(np.argmax(bad)) + 2
        raise DataError(
            f"{path}, line {line}: time and frequency must be numbers, frequency within 40-70 Hz"
        )
    steps = np.diff(t)
    if np.any(steps <= 0.0):
        line = int(np.argmax(steps <= 0.0)) + 3
        raise DataError(f"{path}, line {line}: time must increase from row to row")
    return t - t[0], freq


def follow_recording(
    time_s: FloatArray,
    frequency_hz: FloatArray,
    nominal_hz: float,
    reserve: ReserveSpec,
    reserve_up_mw: float,
    reserve_down_mw: float,
    step_s: float = 0.1,
) -> FrequencyTrace:
    """The road's response to a recorded frequency (the recording is not changed by it).

    The recording is interpolated onto ``step_s``; the road sees it after
    ``measurement_delay_s`` and follows its droop target with the same first-order lag as in
    :func:`simulate`. One corridor is too small to move a synchronous area's frequency, so
    the recording stands for the frequency with and without the road.
    """
    t = np.arange(0.0, float(time_s[-1]) + 0.5 * step_s, step_s)
    f = np.interp(t, time_s, frequency_hz)
    dev = f - float(nominal_hz)
    offered = max(reserve_up_mw, reserve_down_mw)
    delay = round(reserve.measurement_delay_s / step_s)
    measured = np.concatenate([np.full(delay, dev[0]), dev[: len(dev) - delay]])
    target = np.clip(droop_response(measured, offered, reserve), -reserve_down_mw, reserve_up_mw)
    alpha = step_s / (reserve.response_time_constant_s + step_s)
    road = np.zeros_like(t)
    p = 0.0
    for k in range(1, len(t)):
        p += alpha * (target[k - 1] - p)
        road[k] = p
    required = np.clip(droop_response(dev, offered, reserve), -reserve_down_mw, reserve_up_mw)
    return FrequencyTrace(time_s=t, frequency_hz=f, road_mw=road, required_mw=required)


def assess_recording(
    name: str,
    time_s: FloatArray,
    frequency_hz: FloatArray,
    nominal_hz: float,
    reserve: ReserveSpec,
    reserve_mw: float,
    step_s: float = 0.1,
) -> tuple[ReserveEvent, FrequencyTrace]:
    """Assess the road's symmetric reserve against a recorded frequency series.

    Activation is the same check as for a simulated disturbance; the energy is compared over
    the whole recording. ``nadir_hz`` and ``nadir_without_hz`` are both the recording's
    extreme (the road does not move it); ``delta_mw`` is NaN (no known disturbance).
    """
    pooled = reserve_mw * reserve.aggregation_factor
    trace = follow_recording(time_s, frequency_hz, nominal_hz, reserve, pooled, pooled, step_s)
    required, delivered, lag, compliant = _judge(
        trace, slice(None), step_s, reserve, pooled, 0.0, idle_without_demand=True
    )
    low = float(trace.frequency_hz.min())
    high = float(trace.frequency_hz.max())
    extreme = low if nominal_hz - low >= high - nominal_hz else high
    event = ReserveEvent(
        name=name,
        delta_mw=float("nan"),
        reserve_mw=pooled,
        nadir_hz=extreme,
        nadir_without_hz=extreme,
        activation_lag_s=lag,
        activation_time_s=reserve.activation_time_s,
        required_mwh=required,
        delivered_mwh=delivered,
        compliant=compliant,
    )
    return event, trace


def steady_deviation_hz(freq: FrequencySpec, imbalance_mw: float) -> float:
    """Quasi-steady frequency deviation of the area after a load step (primary control
    settled, before secondary control): ``Δf = −ΔP / (D + share / R)`` in per unit.

    Parameters
    ----------
    freq : FrequencySpec
    imbalance_mw : float [MW]
        Load added (positive) or shed (negative) against generation.

    Returns
    -------
    float [Hz]
        Frequency minus nominal.
    """
    stiffness_pu = freq.load_damping_pu + freq.governor_share / freq.governor_droop_pu
    return -imbalance_mw / freq.system_mw / stiffness_pu * float(freq.nominal_hz)
