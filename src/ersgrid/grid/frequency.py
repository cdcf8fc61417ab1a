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

import numpy as np
import numpy.typing as npt

from ersgrid.scenario.reserve import DisturbanceSpec, FrequencySpec, ReserveSpec

__all__ = [
    "FrequencyTrace",
    "ReserveEvent",
    "assess_event",
    "droop_response",
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
        Activation within the limit and delivered energy ≥ 95 % of required.
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
    hours = freq.step_s / 3600.0
    required = float(np.abs(with_road.required_mw[window]).sum() * hours)
    delivered = float(
        np.minimum(np.abs(with_road.road_mw[window]), np.abs(with_road.required_mw[window])).sum()
        * hours
    )
    limit_steps = round(3 * reserve.activation_time_s / freq.step_s)
    lag = _activation_lag(with_road, freq.step_s, limit_steps) if pooled > 0 else float("nan")
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
        compliant=bool(
            pooled > 0
            and lag <= reserve.activation_time_s
            and delivered >= REQUIRED_SHARE * required - 1e-12
        ),
    )
    return event, with_road, without


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
