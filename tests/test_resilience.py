"""Resilience: an outage islands a substation; V2G, parked vehicles and storage carry it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from ersgrid.run.resilience import Outage, run_outage
from ersgrid.scenario import parse_scenario
from ersgrid.scenario.schema import Scenario


def _tiny(data: dict[str, Any], **changes: Any) -> Scenario:
    """Tiny without its local PV and wind (unless given), so the island leans on V2G."""
    data = dict(data)
    data["renewables"] = {}
    data.update(changes)
    return parse_scenario(data)


OUTAGE = Outage("SS-Test", dt.datetime(2035, 4, 2, 18, 0), 3.0)


def _check_balance(rep: Any) -> None:
    supply = (
        rep.pv_kwh + rep.wind_kwh + rep.road_v2g_kwh + rep.parked_kwh + rep.storage_discharged_kwh
    )
    used = rep.served_kwh + rep.storage_charged_kwh + rep.spilled_kwh
    assert supply == pytest.approx(used, rel=1e-9, abs=1e-9)
    assert rep.served_kwh + rep.not_served_kwh == pytest.approx(rep.critical_kwh, rel=1e-12)


def test_island_balance_and_no_charging_in_the_outage(tiny_data: dict[str, Any]) -> None:
    sc = _tiny(tiny_data)
    result, rep, fleet = run_outage(sc, OUTAGE)
    _check_balance(rep)
    assert rep.critical_load_kw == 15.0
    ts = result.timeseries
    inside = OUTAGE.steps(ts.index)
    # the islanded substation draws nothing from the grid, it only takes V2G back
    assert (ts.loc[inside, "road_power_SS-Test_kw"] <= 1e-9).all()
    # and no more V2G than the critical load needs, in each 15-min step
    assert (-ts.loc[inside, "road_power_SS-Test_kw"] <= 15.0 + 1e-9).all()
    assert rep.road_v2g_kwh > 0
    assert fleet.vehicles.shape == (96, 1)


def test_without_v2g_or_storage_the_load_is_not_served(tiny_data: dict[str, Any]) -> None:
    for cls in tiny_data["vehicles"].values():
        cls["v2g_share"] = 0.0
    sc = _tiny(tiny_data, storage=None)
    _, rep, _ = run_outage(sc, OUTAGE)
    _check_balance(rep)
    assert rep.road_v2g_kwh == 0.0
    assert rep.parked_kwh == 0.0
    assert rep.not_served_kwh == pytest.approx(rep.critical_kwh)
    assert rep.hours_served == 0.0


def test_storage_carries_the_island(tiny_data: dict[str, Any]) -> None:
    for cls in tiny_data["vehicles"].values():
        cls["v2g_share"] = 0.0
    storage = {"energy_kwh": 200.0, "power_kw": 100.0, "degradation_cost_per_kwh": 5.0}
    sc = _tiny(tiny_data, storage=storage)
    _, rep, _ = run_outage(sc, OUTAGE)
    _check_balance(rep)
    # 15 kW for 3 h = 45 kWh from a battery that holds at least (soc - 5 %) x 200 kWh
    assert rep.not_served_kwh == pytest.approx(0.0, abs=1e-9)
    assert rep.hours_served == 3.0
    assert rep.storage_discharged_kwh == pytest.approx(45.0)


def test_unknown_substation_and_outside_window(tiny_data: dict[str, Any]) -> None:
    from ersgrid import ScenarioError

    sc = _tiny(tiny_data)
    with pytest.raises(ScenarioError, match="unknown substation"):
        run_outage(sc, Outage("SS-Nowhere", OUTAGE.start, 1.0))
    with pytest.raises(ScenarioError, match="outside the run"):
        run_outage(sc, Outage("SS-Test", dt.datetime(2040, 1, 1), 1.0))
    assert np.isfinite(OUTAGE.hours)


def test_local_renewables_serve_first_and_charge_the_battery(tiny_data: dict[str, Any]) -> None:
    sc = parse_scenario(tiny_data)  # with its roof PV and wind turbine
    _, rep, _ = run_outage(sc, Outage("SS-Test", dt.datetime(2035, 4, 2, 11, 0), 2.0))
    _check_balance(rep)
    assert rep.pv_kwh + rep.wind_kwh > rep.critical_kwh  # midday: local generation exceeds it
    assert rep.not_served_kwh == pytest.approx(0.0, abs=1e-9)
    assert rep.storage_charged_kwh > 0


def test_wind_at_night_is_wind_not_pv(tiny_data: dict[str, Any]) -> None:
    """The island's local energy is labelled by source: at night the roof PV gives nothing and
    what the turbine gives is wind."""
    sc = parse_scenario(tiny_data)
    _, rep, _ = run_outage(sc, Outage("SS-Test", dt.datetime(2035, 4, 2, 0, 0), 4.0))
    _check_balance(rep)
    assert rep.pv_kwh == pytest.approx(0.0, abs=1e-9)
    assert rep.wind_kwh > 0.0
