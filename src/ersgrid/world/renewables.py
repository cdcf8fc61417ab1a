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

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.errors import DataError
from ersgrid.scenario.energy import PvArraySpec, WeatherSpec, WindFarmSpec
from ersgrid.scenario.schema import Scenario
from ersgrid.world.weather import WIND_HEIGHT_M, Weather

__all__ = [
    "IAM_B",
    "REFERENCE_PV",
    "REFERENCE_WIND",
    "REFERENCE_WIND_KW",
    "PlantOutputs",
    "SolarGeometry",
    "kind_shares",
    "plant_outputs",
    "pv_ac_kw",
    "pv_from_weather_kw",
    "reference_pv_kw_per_kwp",
    "reference_wind_kw_per_kw",
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


@dataclass(frozen=True)
class PlantOutputs:
    """AC output of every local plant of a scenario on a world's steps.

    Modelled PV arrays come first, then wind farms, then measured plants, each in the
    scenario's order.

    Attributes
    ----------
    names, kinds, substations : tuple of str
        Label, ``pv`` or ``wind``, and the substation whose connection each plant feeds.
    measured : tuple of bool
        Whether the output is the plant's measured series.
    power_kw : ndarray [kW], shape (steps, plants)
        Mean AC output over each step (NaN where a measured series has no value, in a
        history only).
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    substations: tuple[str, ...]
    measured: tuple[bool, ...]
    power_kw: FloatArray

    def of_kind(self, kind: str) -> FloatArray:
        """Output of all plants of ``kind`` (``pv``, ``wind``) [kW], one value per step."""
        cols = [i for i, k in enumerate(self.kinds) if k == kind]
        if not cols:
            return np.zeros(self.power_kw.shape[0])
        out: FloatArray = self.power_kw[:, cols].sum(axis=1)
        return out

    @property
    def kinds_present(self) -> tuple[str, ...]:
        """The kinds the scenario has, in the order pv, wind."""
        return tuple(k for k in ("pv", "wind") if k in self.kinds)

    def per_connection(self, sub_ids: list[str], kind: str | None = None) -> FloatArray:
        """Output at each substation's connection [kW], shape (steps, substations): of all
        plants, or of the plants of ``kind`` (``pv``, ``wind``)."""
        out = np.zeros((self.power_kw.shape[0], len(sub_ids)))
        for i, sub in enumerate(self.substations):
            if kind is None or self.kinds[i] == kind:
                out[:, sub_ids.index(sub)] += self.power_kw[:, i]
        return out

    def shares(self, kind: str, sub_ids: list[str]) -> FloatArray:
        """Share of each connection in the output of ``kind`` over these steps [-].

        The plants of one kind see one weather, so a forecast of their total splits out to the
        connections in these proportions (zeros when the kind yields nothing).
        """
        energy = np.zeros(len(sub_ids))
        for i, (k, sub) in enumerate(zip(self.kinds, self.substations, strict=True)):
            if k == kind:
                energy[sub_ids.index(sub)] += float(np.nansum(self.power_kw[:, i]))
        total = energy.sum()
        out: FloatArray = energy / total if total > 0 else energy
        return out


def plant_outputs(
    pv: list[PvArraySpec],
    wind: list[WindFarmSpec],
    measured: Sequence[tuple[str, str, str, FloatArray]],
    weather: Weather,
    spec: WeatherSpec,
) -> PlantOutputs:
    """The output of the modelled and measured plants on the weather's steps.

    Parameters
    ----------
    pv, wind : list of PvArraySpec, WindFarmSpec
        Modelled plants (pvlib and windpowerlib chains on ``weather``).
    measured : list of (name, kind, substation, power_kw)
        Measured plants with their series already on the weather's steps [kW].
    """
    columns = [*pv_from_weather_kw(pv, weather, spec), *(wind_ac_kw(f, weather) for f in wind)]
    columns += [m[3] for m in measured]
    n = len(weather.index)
    power = np.column_stack(columns) if columns else np.zeros((n, 0))
    return PlantOutputs(
        names=tuple([a.name for a in pv] + [f.name for f in wind] + [m[0] for m in measured]),
        kinds=tuple(["pv"] * len(pv) + ["wind"] * len(wind) + [m[1] for m in measured]),
        substations=tuple(
            [a.substation for a in pv] + [f.substation for f in wind] + [m[2] for m in measured]
        ),
        measured=tuple([False] * (len(pv) + len(wind)) + [True] * len(measured)),
        power_kw=np.asarray(power, dtype=np.float64),
    )


def reference_pv_kw_per_kwp(weather: Weather, spec: WeatherSpec) -> FloatArray:
    """Yield of :data:`REFERENCE_PV` on the weather [kW per kWp]."""
    return pv_from_weather_kw([REFERENCE_PV], weather, spec)[0] / REFERENCE_PV.peak_kw


def reference_wind_kw_per_kw(weather: Weather) -> FloatArray:
    """Yield of :data:`REFERENCE_WIND` on the weather [kW per kW rated]."""
    return wind_ac_kw(REFERENCE_WIND, weather) / REFERENCE_WIND_KW


@functools.lru_cache(maxsize=64)
def turbine_rating_kw(turbine_type: str) -> float:
    """Nominal power of a windpowerlib turbine type [kW]."""
    from windpowerlib import WindTurbine

    try:
        turbine = WindTurbine(turbine_type=turbine_type, hub_height=100.0)
    except (ValueError, KeyError) as err:
        raise DataError(
            f"turbine {turbine_type!r} has no data in windpowerlib's library ({err}); pick one "
            "such as E-82/2350 or V112/3450"
        ) from None
    return float(turbine.nominal_power) / 1000.0


def kind_shares(scenario: Scenario, kind: str, sub_ids: list[str]) -> FloatArray:
    """Share of each connection in the AC rating of the plants of ``kind`` [-].

    Ratings: a PV array's ``peak_kw / dc_ac_ratio``, a wind farm's ``count`` times its
    turbine's nominal power, a measured plant's ``rated_kw``. The plants of one kind see one
    weather, so a forecast of their total splits out to the connections by rating (zeros when
    the scenario has no plant of the kind).
    """
    ren = scenario.renewables
    weights = np.zeros(len(sub_ids))
    if kind == "pv":
        for array in ren.pv:
            weights[sub_ids.index(array.substation)] += array.peak_kw / array.dc_ac_ratio
    elif kind == "wind":
        for farm in ren.wind:
            rating = farm.count * turbine_rating_kw(farm.turbine_type)
            weights[sub_ids.index(farm.substation)] += rating
    else:
        raise DataError(f"unknown renewable kind {kind!r}; known: pv, wind")
    for plant in ren.measured:
        if plant.kind == kind:
            weights[sub_ids.index(plant.substation)] += plant.rated_kw
    total = weights.sum()
    out: FloatArray = weights / total if total > 0 else weights
    return out
