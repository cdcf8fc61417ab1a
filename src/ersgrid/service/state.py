"""JSON views of the live loop for the API and the dashboard."""

from __future__ import annotations

from typing import Any

import numpy as np

from ersgrid.service.live import SOC_BINS, LiveLoop

__all__ = ["corridor_view", "live_core", "live_state", "live_status", "plan_view", "traffic_view"]


def _num(x: float) -> float | None:
    """A JSON number: NaN and infinities become null."""
    return round(float(x), 3) if np.isfinite(x) else None


def corridor_view(loop: LiveLoop) -> dict[str, Any]:
    """The static description of the corridor: segments, substations, scenario facts."""
    sc, lay = loop.scenario, loop.layout
    return {
        "scenario": sc.name,
        "description": sc.description,
        "currency": sc.currency,
        "timezone": sc.timezone,
        "length_km": lay.length_m / 1000.0,
        "strategy": loop.policy.name,
        "start": loop.index[0].isoformat(),
        "end": (loop.index[-1] + (loop.index[1] - loop.index[0])).isoformat()
        if len(loop.index) > 1
        else loop.index[0].isoformat(),
        "segments": [
            {
                "id": sid,
                "direction": "AB"[int(lay.seg_direction[i])],
                "start_km": float(lay.seg_start_km[i]),
                "end_km": float(lay.seg_end_km[i]),
                "substation": lay.sub_ids[int(lay.seg_substation[i])],
                "rating_kw": float(lay.seg_rating_kw[i]),
                "technology": lay.seg_technology[i],
            }
            for i, sid in enumerate(lay.seg_ids)
        ],
        "substations": [
            {
                "id": sid,
                "position_km": float(lay.sub_position_km[j]),
                "rating_kw": float(lay.sub_rating_kw[j]),
            }
            for j, sid in enumerate(lay.sub_ids)
        ],
        "interchanges": [
            {"name": name, "position_km": float(km)}
            for name, km in zip(lay.ic_names, lay.ic_position_km, strict=True)
        ],
    }


def live_state(loop: LiveLoop) -> dict[str, Any]:
    """Live state of every segment and substation at the last tick.

    Powers in kW (grid side, road draw positive), price in currency per kWh, CO2 in kg per
    kWh, temperatures in °C, frequency in Hz. Substation import is road + batteries +
    service-area chargers (as their stations meter them over OCPP) + other loads − renewables
    (PV and wind). Each substation's ``import_cap_kw`` is the tightest of its active DR caps
    and limit overrides (``dr_cap_kw``, ``override_kw``), the cap the twin keeps; the
    batteries' stored energy and state of charge are those at the last planning step's end.
    """
    return live_status(loop) | live_core(loop)


def live_status(loop: LiveLoop) -> dict[str, Any]:
    """The part of the live state that changes between ticks: the clock's pace and the
    counts of alarms and DR events (cheap to build at each request)."""
    return {
        "speed": loop.speed,
        "running": loop.running,
        "lag_s": round(loop.lag_s, 1),
        "alarms_active": loop.alarms.count(active=True),
        "alarms_unacknowledged": loop.alarms.count(acknowledged=False),
        "dr_events_active": sum(e.status(loop.now) == "active" for e in loop.dr.list()),
        "limit_overrides_active": sum(
            e.status(loop.now) == "active" for e in loop.overrides.list()
        ),
    }


def live_core(loop: LiveLoop) -> dict[str, Any]:
    """The part of the live state that changes only with a tick, a held limit, a fault or a
    DR event (see :attr:`LiveLoop.revision`)."""
    lay, rep = loop.layout, loop.last
    k = loop.plan_step
    now = loop.now
    caps = loop.import_caps_kw(now)
    dr_caps = loop.dr.import_caps_kw(now)
    override_caps = loop.overrides.import_caps_kw(now)
    state: dict[str, Any] = {
        "time": loop.now.isoformat(),
        "plan_step": k,
        "finished": loop.finished,
        "ticks": loop.ticks,
        "strategy": loop.policy.name,
        "strategy_pending": None if loop.pending_policy is None else loop.pending_policy.name,
        "currency": loop.scenario.currency,
        "price_per_kwh": float(loop.price[k]),
        "co2_kg_per_kwh": float(loop.co2[k]),
        "vehicles_on_road": loop.twin.vehicles_on_road,
        "limit_violations": loop.limit_kpis(),
        "nominal_frequency_hz": float(loop.scenario.frequency.nominal_hz),
        "frequency_hz": None if rep is None else round(rep.frequency_hz, 6),
        "traffic": traffic_view(loop),
    }
    if rep is None:
        empty_soc = {"bins": SOC_BINS.tolist(), "counts": [0] * (len(SOC_BINS) - 1)}
        state |= {"segments": [], "substations": [], "road_kw": 0.0, "import_kw": 0.0}
        state |= {"storage_kw": 0.0, "charger_kw": 0.0, "v2g_kw": 0.0, "pv_kw": 0.0}
        state |= {"wind_kw": 0.0}
        state["soc"] = empty_soc
        return state
    k = rep.plan_step  # the loads and renewables of the step the last tick belongs to
    other = loop.context.energy.other_load_kw[k]
    renewable = loop.context.energy.renewable_kw[k]
    pv, wind = loop.pv_kw[k], loop.wind_kw[k]
    sub_v2g_kw = np.bincount(lay.seg_substation, weights=rep.seg_v2g_kw,
                             minlength=lay.n_substations)  # fmt: skip
    stored_kwh = loop.stepper.stored_kwh
    spec = loop.scenario.storage
    capacity_kwh = (
        loop.stepper.storage.energy_max_kwh / spec.soc_max if spec else np.zeros_like(stored_kwh)
    )
    state["segments"] = [
        {
            "id": sid,
            "substation": lay.sub_ids[int(lay.seg_substation[i])],
            "power_kw": _num(rep.seg_power_kw[i]),
            "limit_kw": _num(rep.seg_limit_kw[i]),
            "rating_kw": float(lay.seg_rating_kw[i]),
            "vehicles": int(rep.seg_vehicles[i]),
            "v2g_kw": _num(rep.seg_v2g_kw[i]),
            "temperature_c": _num(rep.readings.seg_temperature_c[i]),
            "safe_limit": i in loop.safe_segments,
        }
        for i, sid in enumerate(lay.seg_ids)
    ]
    state["substations"] = [
        {
            "id": sid,
            "road_kw": _num(rep.sub_road_kw[j]),
            "road_limit_kw": _num(rep.sub_limit_kw[j]),
            "other_load_kw": _num(other[j]),
            "renewable_kw": _num(renewable[j]),
            "pv_kw": _num(pv[j]),
            "wind_kw": _num(wind[j]),
            "storage_kw": _num(rep.sub_storage_kw[j]),
            "storage_kwh": _num(stored_kwh[j]) if capacity_kwh[j] > 0 else None,
            "storage_soc": _num(stored_kwh[j] / capacity_kwh[j]) if capacity_kwh[j] > 0 else None,
            "v2g_kw": _num(sub_v2g_kw[j]),
            "charger_kw": _num(rep.sub_charger_kw[j]),
            "import_kw": _num(rep.sub_import_kw[j]),
            "import_cap_kw": _num(caps[j]),
            "dr_cap_kw": _num(dr_caps[j]),
            "override_kw": _num(override_caps[j]),
            "rating_kw": float(lay.sub_rating_kw[j]),
        }
        for j, sid in enumerate(lay.sub_ids)
    ]
    state["road_kw"] = _num(rep.sub_road_kw.sum())
    state["import_kw"] = _num(rep.sub_import_kw.sum())
    state["storage_kw"] = _num(rep.sub_storage_kw.sum())
    state["charger_kw"] = _num(rep.sub_charger_kw.sum())
    state["v2g_kw"] = _num(rep.seg_v2g_kw.sum())
    state["pv_kw"] = _num(pv.sum())
    state["wind_kw"] = _num(wind.sum())
    state["soc"] = {"bins": SOC_BINS.tolist(), "counts": rep.soc_counts.tolist()}
    return state


def traffic_view(loop: LiveLoop) -> dict[str, Any]:
    """ERS vehicles entering in the planning step in progress: so far, and the forecast the
    planners use for the whole step [veh/step]."""
    k = loop.plan_step
    step_s = loop.steps_per_plan * loop.dt_s
    elapsed_s = loop.twin.step * loop.dt_s
    times = loop.world.arrivals.time_s
    so_far = int(np.count_nonzero((times >= k * step_s) & (times < elapsed_s)))
    return {
        "plan_step": k,
        "ers_entered_so_far": so_far,
        "ers_entered_forecast": round(float(loop.ers_forecast[k]), 3),
        "step_elapsed_share": round(min(max(elapsed_s / step_s - k, 0.0), 1.0), 4),
    }


def plan_view(loop: LiveLoop) -> dict[str, Any]:
    """What the strategy decided for the planning step in progress, and what is in force."""
    lay = loop.layout
    seg, sub, caps = loop.effective_limits()
    decision = loop.decision
    return {
        "strategy": loop.policy.name,
        "decided_at": loop.decided_at.isoformat() if loop.decided_at is not None else None,
        "plan_step": loop.plan_step,
        "step_h": loop.context.step_h,
        "decided": None
        if decision is None
        else {
            "seg_limit_kw": dict(zip(lay.seg_ids, map(_num, decision.seg_limit_kw), strict=True)),
            "sub_limit_kw": dict(zip(lay.sub_ids, map(_num, decision.sub_limit_kw), strict=True)),
            "storage_kw": None
            if decision.storage_kw is None
            else dict(zip(lay.sub_ids, map(_num, decision.storage_kw), strict=True)),
            "seg_v2g_kw": None
            if decision.seg_v2g_kw is None
            else dict(zip(lay.seg_ids, map(_num, decision.seg_v2g_kw), strict=True)),
        },
        "forecast": traffic_view(loop),
        "in_force": {
            "seg_limit_kw": dict(zip(lay.seg_ids, map(_num, seg), strict=True)),
            "sub_limit_kw": dict(zip(lay.sub_ids, map(_num, sub), strict=True)),
            "sub_import_cap_kw": dict(zip(lay.sub_ids, map(_num, caps), strict=True)),
            "safe_limit_segments": sorted(lay.seg_ids[i] for i in loop.safe_segments),
        },
    }
