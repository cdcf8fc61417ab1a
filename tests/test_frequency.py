"""Frequency model and droop response against hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ersgrid.errors import DataError
from ersgrid.grid.frequency import (
    assess_event,
    assess_recording,
    droop_response,
    follow_recording,
    read_frequency_csv,
    simulate,
    steady_deviation_hz,
)
from ersgrid.scenario.reserve import DisturbanceSpec, FrequencySpec, ReserveSpec


@pytest.mark.parametrize(
    ("dev_mhz", "expected_share"),
    [(0.0, 0.0), (-9.9, 0.0), (-10.0, 0.0), (-110.0, 100 / 190), (-200.0, 1.0), (-350.0, 1.0),
     (110.0, -100 / 190), (250.0, -1.0)],
)  # fmt: skip
def test_droop_with_deadband(dev_mhz: float, expected_share: float) -> None:
    reserve = ReserveSpec(product="fcr-ce")
    got = droop_response(np.array([dev_mhz / 1000.0]), 4.0, reserve)[0]
    assert got == pytest.approx(expected_share * 4.0, abs=1e-12)


def test_presets_fill_product_rules() -> None:
    assert ReserveSpec(product="fcr-ce").activation_time_s == 30.0
    jp = ReserveSpec(product="jp-primary")
    assert (jp.activation_time_s, jp.sustain_s) == (10.0, 300.0)
    assert ReserveSpec(product="jp-primary", activation_time_s=5.0).activation_time_s == 5.0


def test_initial_rocof_and_steady_state_match_the_swing_equation() -> None:
    freq = FrequencySpec(nominal_hz=50, system_mw=20_000, inertia_s=5.0, duration_s=300.0,
                         step_s=0.05, governor_time_s=4.0)  # fmt: skip
    dist = DisturbanceSpec(name="trip", time_s=1.0, delta_mw=400.0)
    trace = simulate(freq, dist, ReserveSpec(), 0.0, 0.0)
    dp = 400.0 / 20_000.0
    # right after the trip: df/dt = -dP / 2H per unit
    k = round(1.0 / freq.step_s) + 2
    rocof = (trace.frequency_hz[k] - trace.frequency_hz[k - 1]) / freq.step_s
    assert rocof == pytest.approx(-dp / (2 * 5.0) * 50.0, rel=0.02)
    # after the governors settle: df = -dP / (share/R + D)
    gain = freq.governor_share / freq.governor_droop_pu + freq.load_damping_pu
    assert trace.frequency_hz[-1] - 50.0 == pytest.approx(-dp / gain * 50.0, rel=1e-3)
    # the live state's frequency uses the same settled value (a load step = generation lost)
    assert steady_deviation_hz(freq, 400.0) == pytest.approx(
        trace.frequency_hz[-1] - 50.0, rel=1e-3
    )


def test_reserve_raises_nadir_and_meets_activation() -> None:
    freq = FrequencySpec(nominal_hz=60, system_mw=60_000, governor_share=0.3)
    reserve = ReserveSpec(product="jp-primary")
    for dist in freq.disturbances:
        event, with_road, without = assess_event(freq, dist, reserve, 20.0)
        if dist.delta_mw > 0:
            assert event.nadir_hz > event.nadir_without_hz
        else:
            assert event.nadir_hz < event.nadir_without_hz
        assert event.activation_lag_s <= reserve.activation_time_s
        assert event.compliant
        assert np.all(np.abs(with_road.road_mw) <= 20.0 + 1e-9)
    assert without.road_mw.max() == 0.0


def test_slow_response_fails_activation() -> None:
    freq = FrequencySpec(nominal_hz=60, system_mw=60_000, governor_share=0.3)
    slow = ReserveSpec(product="jp-primary", response_time_constant_s=25.0)
    event, _, _ = assess_event(freq, freq.disturbances[0], slow, 20.0)
    assert event.activation_lag_s > slow.activation_time_s
    assert not event.compliant


def test_no_reserve_is_not_compliant() -> None:
    freq = FrequencySpec()
    event, _, _ = assess_event(freq, freq.disturbances[0], ReserveSpec(), 0.0)
    assert not event.compliant
    assert event.nadir_hz == event.nadir_without_hz


def _recording(path: Path, rows: list[tuple[float, float]]) -> Path:
    path.write_text("time_s,frequency_hz\n" + "".join(f"{t},{f}\n" for t, f in rows))
    return path


def test_recorded_step_is_followed_by_hand(tmp_path: Path) -> None:
    # 50 Hz, then a fall to 49.8 Hz at 10 s held for a minute: full FCR-CE activation
    rows = [(0.0, 50.0), (10.0, 50.0), (10.1, 49.8), (70.0, 49.8)]
    t, f = read_frequency_csv(_recording(tmp_path / "f.csv", rows))
    reserve = ReserveSpec(product="fcr-ce", measurement_delay_s=0.5, response_time_constant_s=2.0)
    trace = follow_recording(t, f, 50.0, reserve, 3.0, 3.0, step_s=0.1)
    # nothing before the fall, and nothing until the measurement delay has passed
    assert np.all(trace.road_mw[trace.time_s <= 10.0 + 0.5] == 0.0)
    # the discrete first-order lag (alpha = dt / (tau + dt)) of the full 3 MW, 100 steps
    # after the delayed step
    k = round(20.6 / 0.1)
    assert trace.road_mw[k] == pytest.approx(3.0 * (1 - (1 - 0.1 / 2.1) ** 100), rel=1e-3)
    event, _ = assess_recording("step", t, f, 50.0, reserve, 3.0)
    assert event.compliant
    assert event.nadir_hz == pytest.approx(49.8)
    slow = ReserveSpec(product="fcr-ce", response_time_constant_s=30.0)
    assert not assess_recording("step", t, f, 50.0, slow, 3.0)[0].compliant


def test_a_bad_recording_is_named(tmp_path: Path) -> None:
    bad = _recording(tmp_path / "b.csv", [(0.0, 50.0), (1.0, 49.9), (0.5, 49.9)])
    with pytest.raises(DataError, match="line 4: time must increase"):
        read_frequency_csv(bad)
    junk = _recording(tmp_path / "j.csv", [(0.0, 50.0), (1.0, 5.0)])
    with pytest.raises(DataError, match="line 3"):
        read_frequency_csv(junk)
    (tmp_path / "c.csv").write_text("t,f\n0,50\n1,50\n")
    with pytest.raises(DataError, match="frequency_hz"):
        read_frequency_csv(tmp_path / "c.csv")
