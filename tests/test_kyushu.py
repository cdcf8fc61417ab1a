"""The renewable-rich built-in: Kyushu's spring middays at the spot floor, mega-solar behind
the connections, and what control does with the surplus against the uncontrolled road."""

from __future__ import annotations

import numpy as np
import pytest

from ersgrid import load_scenario, run
from ersgrid.run.runner import RunResult


def test_kyushu_matches_its_brief() -> None:
    sc = load_scenario("kyushu")
    assert (sc.currency, sc.timezone) == ("JPY", "Asia/Tokyo")
    assert sc.frequency.nominal_hz == 60
    assert sc.simulation.start.month in (3, 4, 5)  # spring
    assert sc.prices.source == "merit_order"
    assert sc.prices.merit_order is not None
    assert sc.prices.merit_order.floor_price_per_kwh == 0.01  # the JEPX floor
    assert sc.co2.mode == "mix"
    pv_kw = {p.substation: p.peak_kw for p in sc.renewables.pv}
    assert set(pv_kw) == {s.id for s in sc.substations}  # PV behind every connection
    assert min(pv_kw.values()) >= 1000  # mega-solar: 1 MW and more
    assert sc.storage is not None
    assert sc.storage.energy_kwh > 0


@pytest.fixture(scope="module")
def day() -> dict[str, RunResult]:
    """One day of kyushu and of shin-tomei, uncontrolled, and kyushu under tou."""
    return {
        "kyushu": run("kyushu", "uncontrolled", days=1),
        "kyushu-tou": run("kyushu", "tou", days=1),
        "shin-tomei": run("shin-tomei", "uncontrolled", days=1),
    }


def test_spot_price_at_the_floor_at_midday(day: dict[str, RunResult]) -> None:
    r = day["kyushu"]
    sc = r.scenario
    ts = r.timeseries
    adder = sc.prices.adder_per_kwh
    midday = (ts.index.hour >= 11) & (ts.index.hour < 14)
    spot = ts["price_per_kwh"].to_numpy() - adder
    assert np.allclose(spot[midday], 0.01)
    assert spot[~midday].max() > 1.0  # and above it at night and in the evening


def test_renewable_share_above_shin_tomei(day: dict[str, RunResult]) -> None:
    k, s = day["kyushu"].kpis, day["shin-tomei"].kpis
    assert k["renewable_share"] > s["renewable_share"]
    assert k["curtailed_kwh"] > 0  # the case: surplus the connections cannot take


def test_control_curtails_no_more_than_uncontrolled(day: dict[str, RunResult]) -> None:
    base, tou = day["kyushu"].kpis, day["kyushu-tou"].kpis
    assert tou["curtailed_kwh"] <= base["curtailed_kwh"] + 1e-6
    assert tou["unmet_energy_kwh"] <= base["unmet_energy_kwh"] * 1.05 + 1.0
