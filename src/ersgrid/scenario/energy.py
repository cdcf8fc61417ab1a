"""Scenario sections for the grid and the energy around the road.

The distribution network and where each substation connects to it, the weather that drives
local renewables, the PV arrays and wind farms behind the road's connections, the other loads,
and where energy prices come from. Every section is optional on :class:`Scenario` with a
default that reproduces a road without a modelled grid.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ersgrid.scenario.base import SpecModel

__all__ = [
    "BDEW_PROFILES",
    "FeederLoadSpec",
    "FilePath",
    "GridConnectionSpec",
    "GridSpec",
    "LoadsSpec",
    "MeasuredPlantSpec",
    "MeritOrderPlant",
    "MeritOrderSpec",
    "PriceSourceSpec",
    "PvArraySpec",
    "RenewablesSpec",
    "WeatherSpec",
    "WindFarmSpec",
]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
MonthlyFractions = Annotated[list[Fraction], Field(min_length=12, max_length=12)]
MonthlyAmounts = Annotated[
    list[Annotated[float, Field(ge=0.0, le=500.0)]], Field(min_length=12, max_length=12)
]
FilePath = Annotated[
    str,
    Field(min_length=1, json_schema_extra={"file": True}),
]
"""A file's path; a relative path is taken from the folder of the scenario file."""

BDEW_PROFILES: tuple[str, ...] = (
    "h0", "h0_dyn", "g0", "g1", "g2", "g3", "g4", "g5", "g6", "l0", "l1", "l2",
)  # fmt: skip
"""BDEW standard load profiles shipped with demandlib (h: household, g: commercial, l: farm)."""

BdewProfile = Literal["h0", "h0_dyn", "g0", "g1", "g2", "g3", "g4", "g5", "g6", "l0", "l1", "l2"]


def _default_network_profiles() -> dict[str, BdewProfile]:
    return {"": "h0"}


def _default_demand_profiles() -> dict[BdewProfile, float]:
    return {"h0": 0.4, "g0": 0.4, "g3": 0.2}


class GridConnectionSpec(SpecModel):
    """Where one substation of the road connects to the network, and its limits."""

    substation: str = Field(description="Id of the road's substation.")
    bus: str = Field(description="Name of the network bus it connects to (e.g. 'Bus 4').")
    import_limit_kw: PositiveFloat | None = Field(
        default=None,
        description=(
            "Most power the connection may import (transformer or contract) [kW]; "
            "unlimited beyond the road's rating if omitted."
        ),
    )
    export_limit_kw: NonNegativeFloat = Field(
        default=0.0, description="Most power the connection may export to the network [kW]."
    )


class GridSpec(SpecModel):
    """The distribution network the road hangs on, checked by AC power flow each planning step."""

    network: str = Field(
        default="cigre_mv",
        description=(
            "Built-in network (cigre_mv: CIGRE MV benchmark, 20 kV, two feeders; cigre_mv_der: "
            "the same with its PV and wind units) or the path of a pandapower JSON file."
        ),
    )
    connections: list[GridConnectionSpec] = Field(
        min_length=1, description="One entry per road substation: its bus and limits."
    )
    voltage_min_pu: Annotated[float, Field(gt=0.5, lt=1.0)] = Field(
        default=0.95, description="Lower end of the permitted voltage band [p.u.]."
    )
    voltage_max_pu: Annotated[float, Field(gt=1.0, lt=1.5)] = Field(
        default=1.05, description="Upper end of the permitted voltage band [p.u.]."
    )
    loading_max_pct: PositiveFloat = Field(
        default=100.0, description="Loading of lines and transformers counted as a violation [%]."
    )
    road_power_factor: Annotated[float, Field(gt=0.5, le=1.0)] = Field(
        default=1.0, description="Power factor of each connection's net load (lagging) [-]."
    )
    network_profiles: Literal["bdew", "simbench"] = Field(
        default="bdew",
        description=(
            "What drives the network's own loads and generators: bdew (loads by the BDEW "
            "profiles below, PV and wind by the scenario's weather) or simbench (each "
            "element's own SimBench profile of 2016, by day of year and time of day; "
            "network a simbench:<code>)."
        ),
    )
    network_load_profiles: dict[str, BdewProfile] = Field(
        default_factory=_default_network_profiles,
        description=(
            "BDEW profile that scales the network's own loads, by load-name prefix (longest "
            "prefix wins); each load's p_mw is taken as its peak."
        ),
    )
    solver: Literal["batch_nr", "pandapower"] = Field(
        default="batch_nr",
        description=(
            "batch_nr: Newton-Raphson of all steps at once on pandapower's admittance matrices; "
            "pandapower: runpp at each step, warm-started (slower reference)."
        ),
    )
    on_nonconvergence: Literal["raise", "record"] = Field(
        default="raise",
        description="raise: stop with GridError; record: count the step and list it in the KPIs.",
    )

    @model_validator(mode="after")
    def _band(self) -> GridSpec:
        subs = [c.substation for c in self.connections]
        if len(set(subs)) != len(subs):
            raise ValueError(f"grid.connections: a substation is listed twice in {subs}")
        return self


class WeatherSpec(SpecModel):
    """Weather driving PV and wind: which offline source, at which coordinates.

    None of the sources is local measured data for a Japanese or Swedish corridor: a TMY or
    TRY file is another place's typical year mapped onto the corridor's calendar, and
    ``clear_sky`` is pvlib's clear-sky model at the corridor with a stochastic cloud cover.
    """

    source: Literal["clear_sky", "pvlib_tmy", "dwd_try"] = Field(
        description=(
            "clear_sky: Ineichen clear sky at the coordinates with an AR(1) cloud cover "
            "(Kasten-Czeplak); pvlib_tmy: a TMY3 file shipped with pvlib; dwd_try: a German "
            "test reference year shipped with demandlib."
        )
    )
    latitude_deg: Annotated[float, Field(ge=-90.0, le=90.0)] = Field(
        description="Latitude of the corridor (sun position) [deg]."
    )
    longitude_deg: Annotated[float, Field(ge=-180.0, le=180.0)] = Field(
        description="Longitude of the corridor [deg]."
    )
    altitude_m: float = Field(default=0.0, description="Altitude above sea level [m].")
    tmy_file: str = Field(
        default="723170TYA.CSV", description="pvlib data file for pvlib_tmy (e.g. 723170TYA.CSV)."
    )
    try_region: Annotated[int, Field(ge=1, le=15)] = Field(
        default=1, description="DWD TRY 2010 climate region for dwd_try (1 Bremerhaven .. 15)."
    )
    cloud_cover_mean: Fraction = Field(
        default=0.5, description="Mean cloud cover for clear_sky [-] (0 clear, 1 overcast)."
    )
    cloud_persistence_h: PositiveFloat = Field(
        default=6.0, description="Time constant of the cloud-cover process for clear_sky [h]."
    )
    wind_mean_ms: PositiveFloat = Field(
        default=4.0, description="Mean wind speed at 10 m for clear_sky (Weibull k = 2) [m/s]."
    )
    temperature_mean_c: float = Field(
        default=15.0, description="Annual mean air temperature for clear_sky [°C]."
    )
    temperature_seasonal_c: NonNegativeFloat = Field(
        default=10.0, description="Seasonal amplitude of the air temperature (clear_sky) [K]."
    )
    wet_day_probability: MonthlyFractions | None = Field(
        default=None,
        description=(
            "Chance that a day of each month January..December is wet (>= 1 mm) [-]; the "
            "climate of the scenario's time zone if omitted."
        ),
    )
    wet_day_mm: MonthlyAmounts | None = Field(
        default=None,
        description="Mean rain of a wet day in each month January..December [mm/d].",
    )
    note: str = Field(default="", description="What the weather stands for, stated honestly.")


class PvArraySpec(SpecModel):
    """A PV array behind a road substation's connection (sound barrier, roof or ground)."""

    name: str = Field(description="Label of the array.")
    kind: Literal["sound_barrier", "roof", "ground"] = Field(description="Where it is mounted.")
    substation: str = Field(description="Substation whose connection it feeds.")
    peak_kw: PositiveFloat = Field(description="DC peak power at STC [kWp].")
    tilt_deg: Annotated[float, Field(ge=0.0, le=90.0)] = Field(
        description="Tilt from horizontal [deg]; a sound barrier is near 90."
    )
    azimuth_deg: Annotated[float, Field(ge=0.0, lt=360.0)] = Field(
        description="Azimuth the modules face, clockwise from north [deg] (180 = south)."
    )
    gamma_pdc_per_c: Annotated[float, Field(ge=-0.01, le=0.0)] = Field(
        default=-0.004, description="Temperature coefficient of DC power [1/°C]."
    )
    system_losses: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.14, description="DC losses (soiling, wiring, mismatch), PVWatts default [-]."
    )
    dc_ac_ratio: Annotated[float, Field(ge=0.5, le=2.0)] = Field(
        default=1.1, description="DC peak over inverter AC rating [-]."
    )
    inverter_efficiency: Annotated[float, Field(gt=0.5, le=1.0)] = Field(
        default=0.96, description="Nominal inverter efficiency (PVWatts) [-]."
    )
    albedo: Fraction = Field(default=0.2, description="Ground reflectance [-].")


class WindFarmSpec(SpecModel):
    """Wind turbines of one type behind a road substation's connection."""

    name: str = Field(description="Label of the wind farm.")
    substation: str = Field(description="Substation whose connection it feeds.")
    turbine_type: str = Field(
        default="E-82/2350", description="Turbine type from windpowerlib's library (OEDB)."
    )
    count: Annotated[int, Field(ge=1, le=500)] = Field(description="Number of turbines [-].")
    hub_height_m: PositiveFloat = Field(description="Hub height [m].")
    roughness_length_m: PositiveFloat = Field(
        default=0.1, description="Surface roughness length for the log wind profile [m]."
    )
    availability: Fraction = Field(
        default=0.97, description="Share of time the turbines are available [-]."
    )


class MeasuredPlantSpec(SpecModel):
    """A PV array or wind farm whose output is a measured time series, not modelled.

    The file has a header ``time,power_kw`` and one row per interval: its start (ISO 8601;
    without an offset, local time of the scenario) and the mean AC output over it [kW]. The
    intervals are regular (5, 10, 15, 30 or 60 min) and must cover the run without a gap.
    """

    name: str = Field(description="Label of the plant.")
    kind: Literal["pv", "wind"] = Field(description="pv or wind (for forecasts and reports).")
    substation: str = Field(description="Substation whose connection it feeds.")
    rated_kw: PositiveFloat = Field(
        description="AC rating of the plant [kW] (shares forecasts of its kind out by rating)."
    )
    path: FilePath = Field(description="CSV file time,power_kw (relative: to the scenario file).")


class RenewablesSpec(SpecModel):
    """Local renewables behind the road's connections."""

    pv: list[PvArraySpec] = Field(default_factory=list, description="PV arrays.")
    wind: list[WindFarmSpec] = Field(default_factory=list, description="Wind farms.")
    measured: list[MeasuredPlantSpec] = Field(
        default_factory=list,
        description="Plants whose measured output replaces the modelled chain.",
    )


class FeederLoadSpec(SpecModel):
    """Another load behind a road substation's connection, from a standard profile."""

    name: str = Field(description="Label of the load.")
    substation: str = Field(description="Substation whose connection serves it.")
    profile: BdewProfile = Field(description="BDEW standard load profile (demandlib).")
    annual_kwh: PositiveFloat = Field(description="Annual energy [kWh].")


class LoadsSpec(SpecModel):
    """Loads behind the road's connections besides the road itself."""

    service_area_profile: BdewProfile | Literal["constant"] = Field(
        default="g3",
        description=(
            "Profile of service-area facility loads, scaled to their facility_load_kw average "
            "(g3: continuous commercial, open around the clock)."
        ),
    )
    feeder: list[FeederLoadSpec] = Field(default_factory=list, description="Other loads.")


class MeritOrderPlant(SpecModel):
    """A block of dispatchable plants in the merit order."""

    name: str = Field(description="Technology or plant group.")
    capacity_mw: PositiveFloat = Field(description="Available capacity [MW].")
    marginal_cost_per_kwh: NonNegativeFloat = Field(
        description="Marginal cost, the price it sets when marginal [currency/kWh]."
    )
    co2_kg_per_kwh: NonNegativeFloat = Field(description="Emission factor [kg/kWh].")


class MeritOrderSpec(SpecModel):
    """A merit-order model of the system price from residual load (demand − PV − wind)."""

    demand_peak_mw: PositiveFloat = Field(description="Peak of the system's demand [MW].")
    demand_profiles: dict[BdewProfile, PositiveFloat] = Field(
        default_factory=_default_demand_profiles,
        description="BDEW profiles mixed (by annual-energy weight) into the demand shape.",
    )
    pv_capacity_mw: NonNegativeFloat = Field(
        default=0.0, description="System PV capacity, scaled from the local PV yield [MW]."
    )
    wind_capacity_mw: NonNegativeFloat = Field(
        default=0.0, description="System wind capacity, scaled from the local wind yield [MW]."
    )
    must_run_mw: NonNegativeFloat = Field(
        default=0.0, description="Zero-cost must-run generation (nuclear, hydro) [MW]."
    )
    plants: list[MeritOrderPlant] = Field(min_length=1, description="Dispatchable blocks.")
    scarcity_price_per_kwh: NonNegativeFloat = Field(
        description="Price when residual load exceeds all capacity [currency/kWh]."
    )
    floor_price_per_kwh: NonNegativeFloat = Field(
        default=0.01, description="Price when must-run and renewables cover demand [currency/kWh]."
    )


class PriceSourceSpec(SpecModel):
    """Where the grid energy price of each step comes from."""

    source: Literal["tariff", "csv", "jepx", "merit_order"] = Field(
        default="tariff",
        description=(
            "tariff: the TOU tariff; csv: a time,price_per_kwh file; jepx: a JEPX spot-summary "
            "CSV; merit_order: the merit-order model of residual load."
        ),
    )
    path: FilePath | None = Field(
        default=None, description="File for csv and jepx (relative: to the scenario file)."
    )
    area: str = Field(
        default="system",
        description="JEPX price column: system or an area (tokyo, chubu, kansai, ...).",
    )
    adder_per_kwh: float = Field(
        default=0.0,
        description="Added to spot or model prices (network charges, levies) [currency/kWh].",
    )
    network_fee_per_kwh: NonNegativeFloat = Field(
        default=0.0,
        description=(
            "Part of the grid price of every imported kWh that is the network operator's "
            "[currency/kWh]: the settlement pays it to the grid operator and the rest to the "
            "retailer (0: a bundled tariff, the retailer pays the network)."
        ),
    )
    merit_order: MeritOrderSpec | None = Field(
        default=None, description="Model for merit_order prices and mix-derived CO2."
    )

    @model_validator(mode="after")
    def _needs(self) -> PriceSourceSpec:
        if self.source in ("csv", "jepx") and not self.path:
            raise ValueError(f"prices.path: source {self.source!r} needs the file's path")
        if self.source == "merit_order" and self.merit_order is None:
            raise ValueError("prices.merit_order: source 'merit_order' needs the model")
        return self
