"""Injected faults raise the right alarm in time; a healthy day raises none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ersgrid.scenario.schema import Scenario
from ersgrid.service.anomaly import AnomalyDetector, RobustBaseline
from ersgrid.service.live import LiveLoop

# Detection bounds stated in docs/service.md (scenario minutes after the fault, morning traffic)
BOUND_MIN = {
    "coil_efficiency": 60,
    "segment_meter": 90,
    "meter_balance": 60,
    "sensor_stuck": 6,
    "temperature_high": 60,
}


def _loop(sc: Scenario) -> tuple[LiveLoop, AnomalyDetector]:
    loop = LiveLoop(sc, days=1.0)
    det = AnomalyDetector(loop.layout, loop.alarms)
    loop.observers.append(det.observe)
    return loop, det


def test_robust_baseline_band() -> None:
    base = RobustBaseline(10)
    assert base.shift(5.0, 6.0, 0.1, 3) == 0.0  # no history yet: no judgement
    base.values.extend([1.0, 1.01, 0.99, 1.0, 1.02])
    assert base.shift(1.05, 6.0, 0.1, 3) == 0.0
    assert base.shift(1.2, 6.0, 0.1, 3) == pytest.approx(0.1)
    assert base.shift(0.8, 6.0, 0.1, 3) == pytest.approx(-0.1)


def test_healthy_day_raises_no_alarm(tiny: Scenario) -> None:
    loop, det = _loop(tiny)
    while loop.tick() is not None:
        pass
    assert det.samples["efficiency"] > 100
    assert det.samples["balance"] > 50
    assert [a.message for a in loop.alarms.list()] == []


def test_injected_faults_raise_their_alarms(tiny: Scenario) -> None:
    loop, _det = _loop(tiny)
    loop.run_for(7 * 3600)
    t0 = loop.now
    faults = {
        "coil_efficiency": ("coil_efficiency", "A-0-003", 0.10),  # coil loses 10 % efficiency
        "segment_meter": ("segment_meter", "B-0-005", 0.04),  # meter reads 4 % low
        "meter_balance": ("substation_meter", "SS-Test", 0.03),  # substation meter 3 % low
        "sensor_stuck": ("sensor_stuck", "A-0-006", 0.0),
        "temperature_high": ("cooling", "B-0-002", 0.95),  # its fan failed: 5 % cooling left
    }
    for kind, subject, magnitude in faults.values():
        loop.inject_fault(kind, subject, magnitude)
    loop.run_for(4 * 3600)
    raised = {(a.kind, a.subject): a for a in loop.alarms.list()}
    expected = {(alarm, f[1]) for alarm, f in faults.items()}
    assert set(raised) == expected, [a.message for a in raised.values()]
    for (kind, _subject), alarm in raised.items():
        delay_min = (pd.Timestamp(alarm.sim_time) - t0).total_seconds() / 60
        print(f"{kind}: raised {delay_min:.0f} min after the fault")  # shown with pytest -s
        assert 0 < delay_min <= BOUND_MIN[kind], (kind, delay_min)
    eff = raised[("coil_efficiency", "A-0-003")].data
    assert eff["efficiency"] == pytest.approx(0.88 * 0.9, abs=0.01)
    assert eff["baseline"] == pytest.approx(0.88, abs=0.005)
    for (kind, subject), alarm in raised.items():
        delay_min = (pd.Timestamp(alarm.sim_time) - t0).total_seconds() / 60
        print(f"{kind} on {subject}: {delay_min:.0f} min")
    bal = raised[("meter_balance", "SS-Test")].data
    assert bal["residual"] - bal["baseline"] == pytest.approx(-0.03, abs=0.01)


def test_fault_injection_is_checked(tiny: Scenario) -> None:
    from ersgrid.errors import ServiceError

    loop = LiveLoop(tiny, days=1.0)
    with pytest.raises(ServiceError, match="kind"):
        loop.inject_fault("gremlins", "A-0-001", 0.1)
    with pytest.raises(ServiceError, match="subject"):
        loop.inject_fault("coil_efficiency", "SS-Test", 0.1)
    with pytest.raises(ServiceError, match="magnitude"):
        loop.inject_fault("segment_meter", "A-0-001", 1.5)
    assert np.all(loop.layout.seg_efficiency == 0.88)
