"""The road against depot charging, public fast charging and diesel: every figure of a small
hand-computed case, the defaults by currency, and the checks of the scenario section."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ersgrid.errors import ScenarioError
from ersgrid.scenario.loader import parse_scenario
from ersgrid.scenario.schema import Scenario
from ersgrid.study.counterfactuals import compute_counterfactuals, depot_window_mask


def _scenario(tiny_data: dict[str, Any], currency: str = "JPY", **cf: Any) -> Scenario:
    data = dict(tiny_data)
    data["currency"] = currency
    data["tariff"] = {
        **data["tariff"],
        "windows": [{"name": "night", "start": "23:00", "end": "07:00", "price_per_kwh": 20.0}],
        "demand_charge_per_kw": 2.0,
    }
    data["economics"] = {
        **data["economics"],
        "counterfactuals": {
            "depot_efficiency": 0.8,
            "depot_charger_per_kw": 1000.0,
            "depot_charger_load_factor": 0.5,
            "depot_charger": {"om_share_per_year": 0.02, "lifetime_years": 10},
            "fast_charge_efficiency": 0.8,
            "diesel_l_per_100km": {"car": 5.0, "bus": 25.0, "truck": 30.0},
            "diesel_co2_kg_per_l": 3.0,
            **cf,
        },
    }
    return parse_scenario(data, "hand case")


def _run_files() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Two trucks (10 km each way, 30 and 20 kWh) and a car (5 km, 2 kWh) on a day whose
    night (23:00-07:00) costs 10 at 0.5 kg/kWh and whose day costs 30 at 0.3 kg/kWh; the road
    draws 100 kW all day, its battery charges 20 kW by night and gives 10 kW by day, and
    local PV gives road and battery 40 kW by day."""
    trips = pd.DataFrame(
        {
            "vehicle_class": ["truck", "truck", "car"],
            "entry_km": [0.0, 10.0, 0.0],
            "exit_km": [10.0, 0.0, 5.0],
            "energy_received_kwh": [30.0, 20.0, 2.0],
        }
    )
    index = pd.date_range("2035-04-02", periods=96, freq="15min", tz="Asia/Tokyo")
    night = (index.hour >= 23) | (index.hour < 7)
    ts = pd.DataFrame(
        {
            "price_per_kwh": np.where(night, 10.0, 30.0),
            "co2_kg_per_kwh": np.where(night, 0.5, 0.3),
            "road_power_kw": 100.0,
            "storage_power_kw": np.where(night, 20.0, -10.0),
            "renewable_used_kw": np.where(night, 0.0, 40.0),
        },
        index=index,
    )
    kpis = {"days": 1.0, "energy_delivered_kwh": 2000.0, "revenue": 100_000.0}
    return trips, ts, kpis


def test_every_figure_by_hand(tiny_data: dict[str, Any]) -> None:
    sc = _scenario(tiny_data, diesel_price_per_l=160.0, fast_charge_price_per_kwh=60.0)
    trips, ts, kpis = _run_files()
    cf = compute_counterfactuals(
        sc, kpis, trips, ts, lcoe_per_kwh=40.0, year_scale=250.0, capital_recovery=0.1,
        exchange_rate=150.0,
    )  # fmt: skip
    energy, km = 52.0, 25.0
    assert cf.energy_kwh == pytest.approx(energy)
    assert cf.vehicle_km == pytest.approx(km)
    truck = next(c for c in cf.classes if c.vehicle_class == "truck")
    assert (truck.trips, truck.energy_kwh, truck.vehicle_km) == (2, 50.0, 20.0)
    assert truck.diesel_l == pytest.approx(6.0)  # 20 km x 30 L/100 km

    # diesel: 20 km x 0.30 + 5 km x 0.05 = 6.25 L, at 160 and 3 kg/L
    d = cf.options["diesel"]
    assert d.detail["litres"] == pytest.approx(6.25)
    assert d.cost == pytest.approx(1000.0)
    assert d.co2_kg == pytest.approx(18.75)
    assert d.co2_kg_per_vehicle_km == pytest.approx(0.75)
    assert d.cost_per_kwh == pytest.approx(1000.0 / energy)

    # the road: night 32 steps x (100 + 20) kW x 0.25 h x 0.5 = 480 kg; day 64 x
    # (100 - 10 - 40) x 0.25 x 0.3 = 240 kg; over the 2,000 kWh delivered: 0.36 kg/kWh
    r = cf.options["road"]
    assert r.detail["grid_co2_kg"] == pytest.approx(720.0)
    assert r.co2_kg_per_kwh == pytest.approx(0.36)
    assert r.co2_kg == pytest.approx(0.36 * energy)
    assert r.co2_kg_per_vehicle_km == pytest.approx(0.36 * energy / km)
    assert r.cost_per_kwh == pytest.approx(40.0)
    assert r.detail["user_price_per_kwh"] == pytest.approx(50.0)

    # the depot: 52 / 0.8 = 65 kWh at 10 over 8 h; 8.125 kW mean, 16.25 kW of chargers at
    # 1,000 USD x 150: 2,437,500; x (0.1 + 0.02) / 250 = 1,170 in the run; demand 8.125 x 2
    p = cf.options["depot"]
    assert p.detail["window_h"] == pytest.approx(8.0)
    assert p.detail["grid_energy_kwh"] == pytest.approx(65.0)
    assert p.detail["charger_kw"] == pytest.approx(16.25)
    assert p.detail["charger_capex"] == pytest.approx(2_437_500.0)
    assert p.detail["charger_cost_in_run"] == pytest.approx(1170.0)
    assert p.detail["demand_charge"] == pytest.approx(16.25)
    assert p.cost == pytest.approx(650.0 + 1170.0 + 16.25)
    assert p.co2_kg == pytest.approx(32.5)
    assert p.co2_kg_per_vehicle_km == pytest.approx(1.3)

    # fast charging: 52 x 60; 65 kWh at the day's mean intensity (32 x 0.5 + 64 x 0.3) / 96
    f = cf.options["fast_charging"]
    assert f.cost == pytest.approx(3120.0)
    assert f.co2_kg == pytest.approx(65.0 * 35.2 / 96.0)

    kpi = cf.kpis()
    assert kpi["cost_per_kwh_depot"] == pytest.approx(p.cost / energy)
    assert kpi["co2_kg_per_vkm_diesel"] == pytest.approx(0.75)
    assert set(cf.as_dict()["options"]) == {"road", "depot", "fast_charging", "diesel"}


def test_sourced_defaults_by_currency(tiny_data: dict[str, Any]) -> None:
    trips, ts, kpis = _run_files()
    args = {"lcoe_per_kwh": 40.0, "year_scale": 365.0, "capital_recovery": 0.1,
            "exchange_rate": 1.0}  # fmt: skip
    jpy = compute_counterfactuals(_scenario(tiny_data), kpis, trips, ts, **args)
    assert jpy.options["diesel"].detail["price_per_l"] == 165.0
    assert jpy.options["fast_charging"].detail["price_per_kwh"] == 55.0
    assert not jpy.notes
    eur = compute_counterfactuals(_scenario(tiny_data, "EUR"), kpis, trips, ts, **args)
    assert eur.options["fast_charging"].detail["price_per_kwh"] == 0.69
    # no sourced price in CNY: no cost, the CO2 stands, and a note names the field
    cny = compute_counterfactuals(_scenario(tiny_data, "CNY"), kpis, trips, ts, **args)
    assert math.isnan(cny.options["diesel"].cost)
    assert cny.options["diesel"].co2_kg == pytest.approx(18.75)
    assert any("diesel_price_per_l" in n for n in cny.notes)
    assert any("fast_charge_price_per_kwh" in n for n in cny.notes)


def test_depot_window(tiny_data: dict[str, Any]) -> None:
    _, ts, _ = _run_files()
    index = pd.DatetimeIndex(ts.index)
    inside, hours = depot_window_mask(_scenario(tiny_data), index)
    assert (hours, int(inside.sum())) == (8.0, 32)
    own = _scenario(tiny_data, depot_window_start="01:00", depot_window_end="05:00")
    inside, hours = depot_window_mask(own, index)
    assert (hours, int(inside.sum())) == (4.0, 16)
    with pytest.raises(ScenarioError, match="depot_window_end"):
        _scenario(tiny_data, depot_window_start="01:00")
