"""PV and wind output from weather: pvlib's PVWatts-style chain and windpowerlib.

PV (per array): sun position (pvlib, NREL SPA in numpy) → Erbs decomposition of GHI into
DNI and DHI → plane-of-array irradiance (isotropic sky, ground reflection with the array's
albedo) → ASHRAE incidence-angle modifier on the beam (b = 0.05) → Faiman cell temperature
→ PVWatts DC power with temperature coefficient and system losses → PVWatts inverter
(nominal efficiency, clipped at the AC rating ``peak_kw / dc_ac_ratio``).

Wind (per farm): windpowerlib's ModelChain with a turbine from its library (OEDB power
curves shipped offline): log wind profile from 10 m to hub height with the farm's roughness,
barometric density, the power curve without density correction, times the count and the
availability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.weather import WIND_HEIGHT_M, Weather
from ersgrid.errors import DataError
from ersgrid.scenario.energy import PvArraySpec, WeatherSpec, WindFarmSpec

__all__ = [
    "IAM_B",
    "REFERENCE_PV",
    "REFERENCE_WIND",
    "REFERENCE_WIND_KW",
    "SolarGeometry",
    "pv_ac_kw",
    "pv_from_weather_kw",
    "solar_geometry",
    "wind_ac_kw",
]

FloatArray = npt.NDArray[np.float64]

IAM_B = 0.05
"""ASHRAE incidence-angle modifier parameter (PVWatts uses a similar glass loss) [-]."""


@dataclass(frozen=True)
class SolarGeometry:
    """Sun position and irradiance components on a time index.

    Attributes
    ----------
    zenith_deg, azimuth_deg : ndarray [deg]
        Apparent solar zenith and azimuth (clockwise from north).
    ghi_w_m2, dni_w_m2, dhi_w_m2 : ndarray [W/m²]
    """

    zenith_deg: FloatArray
    azimuth_deg: FloatArray
    ghi_w_m2: FloatArray
    dni_w_m2: FloatArray
    dhi_w_m2: FloatArray


REFERENCE_PV = PvArraySpec(
    name="system PV, per kWp", kind="ground", substation="-", peak_kw=1.0, tilt_deg=20.0,
    azimuth_deg=180.0,
)  # fmt: skip
"""Array whose yield per kWp scales the merit-order model's system PV capacity."""

REFERENCE_WIND = WindFarmSpec(
    name="system wind, per turbine", substation="-", turbine_type="E-82/2350", count=1,
    hub_height_m=98.0, roughness_length_m=0.1, availability=0.97,
)  # fmt: skip
"""Turbine whose yield per kW scales the merit-order model's system wind capacity."""


REFERENCE_WIND_KW = 2350.0
"""Rated power of :data:`REFERENCE_WIND` [kW]."""


def solar_geometry(weather: Weather, spec: WeatherSpec) -> SolarGeometry:
    """Sun position at the mid-point of each step and Erbs decomposition of the GHI."""
    import pvlib

    idx = weather.index
    step = idx[1] - idx[0] if len(idx) > 1 else pd.Timedelta(minutes=15)
    mid = idx + step / 2
    pos = pvlib.solarposition.get_solarposition(
        mid, spec.latitude_deg, spec.longitude_deg, altitude=spec.altitude_m, method="nrel_numpy"
    )
    zenith = pos["apparent_zenith"].to_numpy(float)
    ghi = np.where(zenith < 90.0, weather.ghi_w_m2, 0.0)
    parts = pvlib.irradiance.erbs(ghi, zenith, np.asarray(mid.dayofyear))
    return SolarGeometry(
        zenith_deg=zenith,
        azimuth_deg=pos["azimuth"].to_numpy(float),
        ghi_w_m2=ghi,
        dni_w_m2=np.nan_to_num(np.asarray(parts["dni"], dtype=float)),
        dhi_w_m2=np.nan_to_num(np.asarray(parts["dhi"], dtype=float)),
    )


def pv_ac_kw(
    array: PvArraySpec,
    sun: SolarGeometry,
    temp_air_c: FloatArray,
    wind_speed_ms: FloatArray,
) -> FloatArray:
    """AC output of one PV array [kW].

    Parameters
    ----------
    array : PvArraySpec
    sun : SolarGeometry
        Sun position [deg] and GHI, DNI, DHI [W/m²].
    temp_air_c : ndarray [°C]
    wind_speed_ms : ndarray [m/s]
    """
    import pvlib

    aoi = pvlib.irradiance.aoi(array.tilt_deg, array.azimuth_deg, sun.zenith_deg, sun.azimuth_deg)
    poa = pvlib.irradiance.get_total_irradiance(
        array.tilt_deg, array.azimuth_deg, sun.zenith_deg, sun.azimuth_deg,
        sun.dni_w_m2, sun.ghi_w_m2, sun.dhi_w_m2, albedo=array.albedo, model="isotropic",
    )  # fmt: skip
    beam = np.asarray(poa["poa_direct"], dtype=float)
    diffuse = np.asarray(poa["poa_diffuse"], dtype=float)
    iam = np.asarray(pvlib.iam.ashrae(aoi, b=IAM_B), dtype=float)
    effective = np.nan_to_num(beam * iam + diffuse)
    poa_global = np.nan_to_num(beam + diffuse)
    temp_cell = pvlib.temperature.faiman(poa_global, temp_air_c, wind_speed_ms)
    pdc0_w = array.peak_kw * 1000.0
    dc_w = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, pdc0_w, array.gamma_pdc_per_c)
    dc_w = np.maximum(np.asarray(dc_w, dtype=float), 0.0) * (1.0 - array.system_losses)
    pac0_w = pdc0_w / array.dc_ac_ratio
    ac_w = pvlib.inverter.pvwatts(
        dc_w, pac0_w / array.inverter_efficiency, eta_inv_nom=array.inverter_efficiency
    )
    out: FloatArray = np.maximum(np.nan_to_num(np.asarray(ac_w, dtype=float)), 0.0) / 1000.0
    return out


def pv_from_weather_kw(
    arrays: list[PvArraySpec], weather: Weather, spec: WeatherSpec
) -> list[FloatArray]:
    """AC output of each array of ``arrays`` on the weather's steps [kW]."""
    if not arrays:
        return []
    sun = solar_geometry(weather, spec)
    return [pv_ac_kw(a, sun, weather.temp_air_c, weather.wind_speed_ms) for a in arrays]


def wind_ac_kw(farm: WindFarmSpec, weather: Weather) -> FloatArray:
    """AC output of a wind farm [kW] from the wind speed at 10 m [m/s] of ``weather``."""
    from windpowerlib import ModelChain, WindTurbine

    try:
        turbine = WindTurbine(turbine_type=farm.turbine_type, hub_height=farm.hub_height_m)
    except (ValueError, KeyError) as err:
        raise DataError(
            f"wind farm {farm.name!r}: turbine {farm.turbine_type!r} has no power curve in "
            f"windpowerlib's library ({err}); pick one such as E-82/2350 or V112/3450"
        ) from None
    cols = pd.MultiIndex.from_tuples(
        [("wind_speed", WIND_HEIGHT_M), ("temperature", 2.0), ("pressure", 0.0),
         ("roughness_length", 0.0)],
        names=["variable_name", "height"],
    )  # fmt: skip
    frame = pd.DataFrame(
        np.column_stack([
            weather.wind_speed_ms, weather.temp_air_c + 273.15, weather.pressure_pa,
            np.full(len(weather.index), farm.roughness_length_m),
        ]),
        index=weather.index, columns=cols,
    )  # fmt: skip
    chain = ModelChain(turbine, wind_speed_model="logarithmic", density_model="barometric",
                       temperature_model="linear_gradient", power_output_model="power_curve",
                       density_correction=False).run_model(frame)  # fmt: skip
    power_w = np.asarray(chain.power_output, dtype=float)
    out: FloatArray = np.maximum(power_w, 0.0) * farm.count * farm.availability / 1000.0
    return out
