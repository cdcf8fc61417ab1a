"""PV and wind chains against values computed by hand; BDEW loads; merit order; weather."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ersgrid.data.profiles import bdew_power_kw
from ersgrid.scenario.energy import (
    MeritOrderPlant,
    MeritOrderSpec,
    PvArraySpec,
    WeatherSpec,
    WindFarmSpec,
)
from ersgrid.scenario.schema import Scenario
from ersgrid.world.prices import merit_order_dispatch
from ersgrid.world.renewables import IAM_B, SolarGeometry, pv_ac_kw, wind_ac_kw
from ersgrid.world.weather import Weather, WeatherForecast, scenario_weather


def read_weather(base: Scenario, spec: WeatherSpec, index: pd.DatetimeIndex, seed: int) -> Weather:
    """The world's weather of ``spec`` on ``index`` for a scenario like ``base``."""
    sc = base.model_copy(update={"weather": spec, "timezone": str(index.tz), "seed": seed})
    return scenario_weather(sc, index)


def hand_weather(index: pd.DatetimeIndex, temp_c: float, wind_ms: float) -> Weather:
    """A one-value weather written by hand (no sun, no rain)."""
    zero = np.zeros(len(index))
    temp, wind = np.full(len(index), temp_c), np.full(len(index), wind_ms)
    return Weather(
        index, zero, temp, wind, np.full(len(index), 101325.0), zero, zero,
        WeatherForecast(temp, zero, zero, zero, wind), "hand",
    )  # fmt: skip


def _pvwatts_by_hand(
    poa_beam: float, poa_diffuse: float, iam: float, temp_air: float, wind: float, arr: PvArraySpec
) -> float:
    """PVWatts-style chain written out: Faiman, PVWatts DC, PVWatts inverter [kW]."""
    effective = poa_beam * iam + poa_diffuse
    temp_cell = temp_air + (poa_beam + poa_diffuse) / (25.0 + 6.84 * wind)
    pdc0 = arr.peak_kw * 1000.0
    dc = pdc0 * effective / 1000.0 * (1.0 + arr.gamma_pdc_per_c * (temp_cell - 25.0))
    dc *= 1.0 - arr.system_losses
    pac0 = pdc0 / arr.dc_ac_ratio
    pdc0_inv = pac0 / arr.inverter_efficiency
    zeta = dc / pdc0_inv
    eta = arr.inverter_efficiency / 0.9637 * (-0.0162 * zeta - 0.0059 / zeta + 0.9858)
    return min(eta * dc, pac0) / 1000.0


def _sun(zenith: float, azimuth: float, ghi: float, dni: float) -> SolarGeometry:
    dhi = ghi - dni * math.cos(math.radians(zenith))
    arr = lambda x: np.array([x], dtype=float)  # noqa: E731
    return SolarGeometry(arr(zenith), arr(azimuth), arr(ghi), arr(dni), arr(dhi))


def test_pv_tilted_roof_facing_the_sun() -> None:
    arr = PvArraySpec(name="roof", kind="roof", substation="S", peak_kw=100.0, tilt_deg=30.0,
                      azimuth_deg=180.0)  # fmt: skip
    sun = _sun(30.0, 180.0, 800.0, 700.0)
    dhi = float(sun.dhi_w_m2[0])
    cos_t = math.cos(math.radians(30.0))
    beam = 700.0  # angle of incidence 0
    diffuse = dhi * (1 + cos_t) / 2 + 800.0 * 0.2 * (1 - cos_t) / 2
    expected = _pvwatts_by_hand(beam, diffuse, 1.0, 25.0, 2.0, arr)
    got = pv_ac_kw(arr, sun, np.array([25.0]), np.array([2.0]))[0]
    assert got == pytest.approx(expected, rel=1e-6)
    assert 60.0 < got < 80.0  # ~890 W/m² in the plane, hot cells, 14 % losses


def test_pv_vertical_sound_barrier_with_incidence_loss() -> None:
    arr = PvArraySpec(name="barrier", kind="sound_barrier", substation="S", peak_kw=300.0,
                      tilt_deg=90.0, azimuth_deg=180.0, dc_ac_ratio=1.2)  # fmt: skip
    sun = _sun(60.0, 180.0, 500.0, 600.0)
    dhi = float(sun.dhi_w_m2[0])
    aoi = math.radians(30.0)  # sun 30° above the horizon, due south, on a wall facing south
    beam = 600.0 * math.cos(aoi)
    iam = 1.0 - IAM_B * (1.0 / math.cos(aoi) - 1.0)
    diffuse = dhi * 0.5 + 500.0 * 0.2 * 0.5
    expected = _pvwatts_by_hand(beam, diffuse, iam, 10.0, 4.0, arr)
    got = pv_ac_kw(arr, sun, np.array([10.0]), np.array([4.0]))[0]
    assert got == pytest.approx(expected, rel=1e-6)


def test_pv_clips_at_the_inverter_rating_and_is_zero_at_night() -> None:
    arr = PvArraySpec(name="r", kind="roof", substation="S", peak_kw=100.0, tilt_deg=30.0,
                      azimuth_deg=180.0, dc_ac_ratio=1.6, system_losses=0.0)  # fmt: skip
    sun = _sun(30.0, 180.0, 1100.0, 950.0)
    assert pv_ac_kw(arr, sun, np.array([0.0]), np.array([5.0]))[0] == pytest.approx(100.0 / 1.6)
    night = SolarGeometry(*(np.array([v]) for v in (100.0, 0.0, 0.0, 0.0, 0.0)))
    assert pv_ac_kw(arr, night, np.array([5.0]), np.array([1.0]))[0] == 0.0


def _power_curve(turbine: str) -> tuple[np.ndarray, np.ndarray]:
    import windpowerlib

    path = Path(windpowerlib.__file__).parent / "oedb" / "power_curves.csv"
    with path.open() as fh:
        rows = list(csv.reader(fh))
    speeds = np.array([float(x) for x in rows[0][1:]])
    row = next(r for r in rows if r[0] == turbine)
    ok = [i for i, v in enumerate(row[1:]) if v != ""]
    return speeds[ok], np.array([float(row[1 + i]) for i in ok])


@pytest.mark.parametrize("v10", [3.0, 6.0, 9.5, 30.0])
def test_wind_farm_log_profile_and_power_curve(v10: float) -> None:
    farm = WindFarmSpec(name="w", substation="S", turbine_type="E-82/2350", count=3,
                        hub_height_m=98.0, roughness_length_m=0.1, availability=0.9)  # fmt: skip
    index = pd.date_range("2035-04-02", periods=1, freq="15min", tz="Asia/Tokyo")
    weather = hand_weather(index, 15.0, v10)
    v_hub = v10 * math.log(98.0 / 0.1) / math.log(10.0 / 0.1)
    speeds, watts = _power_curve("E-82/2350")
    expected_kw = float(np.interp(v_hub, speeds, watts, left=0, right=0)) * 3 * 0.9 / 1000
    assert wind_ac_kw(farm, weather)[0] == pytest.approx(expected_kw, rel=1e-9, abs=1e-9)


def test_bdew_load_keeps_its_annual_energy() -> None:
    index = pd.date_range("2035-01-01", periods=35040, freq="15min", tz="Asia/Tokyo")
    power = bdew_power_kw("g3", 8760.0 * 350.0, index)
    assert power.sum() * 0.25 == pytest.approx(8760.0 * 350.0, rel=1e-9)
    assert power.mean() == pytest.approx(350.0, rel=1e-9)


def test_merit_order_by_hand() -> None:
    model = MeritOrderSpec(
        demand_peak_mw=100.0, must_run_mw=10.0, scarcity_price_per_kwh=99.0,
        floor_price_per_kwh=0.01,
        plants=[
            MeritOrderPlant(name="gas", capacity_mw=30.0, marginal_cost_per_kwh=12.0,
                            co2_kg_per_kwh=0.4),
            MeritOrderPlant(name="coal", capacity_mw=20.0, marginal_cost_per_kwh=8.0,
                            co2_kg_per_kwh=0.9),
        ],
    )  # fmt: skip
    demand = np.array([25.0, 50.0, 100.0, 30.0])
    ren = np.array([0.0, 5.0, 0.0, 25.0])
    price, co2, dispatch = merit_order_dispatch(demand, ren, model)
    # need = demand - ren - must run: 15, 35, 90, -5
    np.testing.assert_allclose(price, [8.0, 12.0, 99.0, 0.01])
    np.testing.assert_allclose(dispatch, [[0, 15], [15, 20], [30, 20], [0, 0]])  # gas, coal
    np.testing.assert_allclose(co2, [15 * 0.9 / 25, (15 * 0.4 + 20 * 0.9) / 50,
                                     (30 * 0.4 + 20 * 0.9) / 100, 0.0])  # fmt: skip


def test_clear_sky_weather_is_seeded_and_below_clear_sky(tiny: Scenario) -> None:
    import pvlib

    spec = WeatherSpec(source="clear_sky", latitude_deg=34.97, longitude_deg=138.38,
                       cloud_cover_mean=0.55)  # fmt: skip
    index = pd.date_range("2035-04-02", periods=96 * 3, freq="15min", tz="Asia/Tokyo")
    a, b = read_weather(tiny, spec, index, 1), read_weather(tiny, spec, index, 1)
    np.testing.assert_array_equal(a.ghi_w_m2, b.ghi_w_m2)
    assert not np.array_equal(a.ghi_w_m2, read_weather(tiny, spec, index, 2).ghi_w_m2)
    loc = pvlib.location.Location(34.97, 138.38, tz="Asia/Tokyo", altitude=0.0)
    clear = loc.get_clearsky(index + pd.Timedelta(minutes=7.5))["ghi"]
    assert np.all(a.ghi_w_m2 <= clear.to_numpy() + 1e-9)
    assert np.all(a.ghi_w_m2 >= 0.25 * clear.to_numpy() - 1e-9)  # Kasten-Czeplak at C = 1
    assert a.ghi_w_m2[index.hour == 0].max() == 0.0
    assert "not measured" in a.description


def test_tmy_year_keeps_the_files_irradiation(tiny: Scenario) -> None:
    import pvlib

    from ersgrid.data.weather import read_tmy

    spec = WeatherSpec(source="pvlib_tmy", tmy_file="723170TYA.CSV", latitude_deg=36.1,
                       longitude_deg=-79.95)  # fmt: skip
    index = pd.date_range("2035-01-01", periods=35040, freq="15min", tz="America/New_York")
    weather = read_weather(tiny, spec, index, 0)
    hourly = read_tmy(Path(pvlib.__file__).parent / "data" / "723170TYA.CSV")
    year_kwh_m2 = weather.ghi_w_m2.sum() * 0.25 / 1000
    file_kwh_m2 = hourly["ghi_w_m2"].sum() / 1000
    assert year_kwh_m2 == pytest.approx(file_kwh_m2, rel=0.02)
    assert weather.temp_air_c.mean() == pytest.approx(hourly["temp_air_c"].mean(), abs=0.05)
    assert "not measured" in weather.description


def test_merit_order_prices_through_the_scenario() -> None:
    from ersgrid.scenario.loader import load_scenario
    from ersgrid.world import build_world

    scenario = load_scenario("shin-tomei", overrides={"prices.source": "merit_order",
                                                      "prices.adder_per_kwh": 10.0})  # fmt: skip
    index = pd.date_range("2035-04-02", periods=96 * 7, freq="15min", tz="Asia/Tokyo")
    price = build_world(scenario, index).price_per_kwh
    mo = scenario.prices.merit_order
    assert mo is not None
    allowed = {p.marginal_cost_per_kwh + 10.0 for p in mo.plants}
    allowed |= {mo.floor_price_per_kwh + 10.0, mo.scarcity_price_per_kwh + 10.0}
    assert set(np.round(price, 9)) <= {round(a, 9) for a in allowed}
    assert price[index.hour == 12].mean() < price[index.hour == 19].mean()  # PV at noon
    assert len(set(price)) >= 3
