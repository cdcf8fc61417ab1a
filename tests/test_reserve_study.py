"""Reserve study of a run: headroom held back, offered, and tested in every disturbance."""

from __future__ import annotations

import numpy as np
import pytest

from ersgrid import run
from ersgrid.control import Uncontrolled
from ersgrid.run.reserve import HoldHeadroom, headroom_kw, reserve_study


@pytest.fixture(scope="module")
def held() -> object:
    return run("tiny", HoldHeadroom(Uncontrolled(), 0.25), days=1)


def test_uncontrolled_leaves_no_symmetric_headroom() -> None:
    res = run("tiny", "uncontrolled", days=0.5)
    up, _down, sym = headroom_kw(res)
    assert (up >= 0).all()
    # it takes all it can: headroom only where a segment rating binds, a few kW at most
    assert sym.max() < 0.01 * up.max()


def test_no_offer_is_no_offer_not_compliant() -> None:
    """A run that offers nothing has nothing to comply with: each event says "no offer" and the
    study is not "all compliant"."""
    study = reserve_study(run("tiny", "uncontrolled", days=0.25))
    none_offered = [e for _, e, _, _ in study.events if e.reserve_mw <= 0.0]
    assert none_offered  # uncontrolled leaves no symmetric headroom at its thinnest step
    assert {e.status for e in none_offered} == {"no offer"}
    assert not any(e.compliant for e in none_offered)
    assert not study.all_compliant


def test_holding_back_gives_reserve_that_meets_the_product(held: object) -> None:
    study = reserve_study(held)  # type: ignore[arg-type]
    assert study.reserve_kw.max() > 0
    ts = held.timeseries  # type: ignore[attr-defined]
    # what is held back is what the reserve can use upward; charging is what it can cut
    assert np.all(study.reserve_kw <= 0.5 * ts["road_request_kw"].to_numpy() + 1e-6)
    assert study.all_compliant
    for _, event, _with_road, _without in study.events:
        assert event.activation_lag_s <= event.activation_time_s
        if event.delta_mw > 0:
            assert event.nadir_hz > event.nadir_without_hz
        else:
            assert event.nadir_hz < event.nadir_without_hz
    price = held.scenario.reserve.capacity_price_per_mw_h  # type: ignore[attr-defined]
    assert study.revenue == pytest.approx((study.reserve_kw / 1000).sum() * price * 0.25)


def test_holding_back_costs_energy(held: object) -> None:
    base = run("tiny", "uncontrolled", days=1)
    assert held.kpis["energy_delivered_kwh"] < base.kpis["energy_delivered_kwh"]  # type: ignore[attr-defined]
    assert held.strategy == "uncontrolled+hold0.25"  # type: ignore[attr-defined]


def test_product_switch_keeps_the_scenarios_other_reserve_settings() -> None:
    from ersgrid import ErsgridError, load_scenario
    from ersgrid.cli.support import with_product

    sc = load_scenario("shin-tomei")  # jp-primary at 2,000 JPY/MW·h
    fcr = with_product(sc, "fcr-ce")
    assert (fcr.reserve.product, fcr.reserve.activation_time_s) == ("fcr-ce", 30.0)
    assert fcr.reserve.capacity_price_per_mw_h == sc.reserve.capacity_price_per_mw_h
    tiny = with_product(load_scenario("tiny"), "jp-primary")  # no reserve section in its file
    assert tiny.reserve.activation_time_s == 10.0
    with pytest.raises(ErsgridError, match="--product 'nonsense'"):
        with_product(sc, "nonsense")


def test_a_recorded_frequency_is_tested_beside_the_disturbances(held: object) -> None:
    from ersgrid.run.reserve import FrequencyRecording

    t = np.arange(0.0, 400.0, 1.0)
    f = 60.0 - 0.02 * np.sin(t / 40.0)  # a slow swing of ±20 mHz around 60 Hz
    study = reserve_study(held, FrequencyRecording("recorded", t, f))  # type: ignore[arg-type]
    recorded = [e for _, e, _, _ in study.events if e.name == "recorded"]
    assert len(recorded) == 2  # the worst and the median step
    assert all(e.compliant for e in recorded)
    assert all(e.required_mwh > 0 for e in recorded)
