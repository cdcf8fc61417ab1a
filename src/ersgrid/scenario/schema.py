"""The scenario schema: one typed table of every input, with units, bounds and descriptions.

The schema is the single source of truth for validation and for the documentation of the
scenario format (``docs/scenario.md`` is generated from it by ``ersgrid scenario-doc``).
Every numeric field carries its unit in its name and in its description; every model
forbids unknown keys so a typo is an error, not a silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ersgrid.scenario.base import SpecModel
from ersgrid.scenario.demand_response import DemandResponseSpec
from ersgrid.scenario.economics import EconomicsSpec
from ersgrid.scenario.energy import (
    FilePath,
    GridSpec,
    LoadsSpec,
    PriceSourceSpec,
    RenewablesSpec,
    WeatherSpec,
)
from ersgrid.scenario.reserve import FrequencySpec, ReserveSpec
from ersgrid.scenario.response import ResponseSpec
from ersgrid.scenario.settlement import SettlementSpec
from ersgrid.scenario.storage import StorageSpec
from ersgrid.scenario.v2g import V2GSpec
from ersgrid.scenario.windows import TariffWindow

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "VEHICLE_CLASSES",
    "Co2Spec",
    "Direction",
    "EntrySocSpec",
    "InterchangeSpec",
    "RoadSpec",
    "Scenario",
    "SectionSpec",
    "ServiceAreaSpec",
    "SimulationSpec",
    "SpeedSpec",
    "SubstationSpec",
    "TariffSpec",
    "TariffWindow",
    "Technology",
    "TrafficCountsSpec",
    "TrafficSpec",
    "VehicleClassSpec",
    "check_run_year",
]

VEHICLE_CLASSES: tuple[str, ...] = ("car", "bus", "truck")

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]
HourlyProfile = Annotated[list[NonNegativeFloat], Field(min_length=24, max_length=24)]


class Technology(StrEnum):
    """Power-transfer technology of an electrified section."""

    inductive = "inductive"
    conductive_rail = "conductive_rail"
    catenary = "catenary"


class Direction(StrEnum):
    """Travel direction: ``A`` runs with increasing road kilometre, ``B`` against it."""

    A = "A"
    B = "B"


class SectionSpec(SpecModel):
    """A stretch of one or both directions fitted with one technology, split into segments.

    Each segment is one power unit: it has its own rating and meter and shares its power among
    the vehicles on it.
    """

    name: str = Field(description="Label of the section, used in reports.")
    start_km: NonNegativeFloat = Field(description="Road kilometre where the section begins [km].")
    length_km: PositiveFloat = Field(description="Length of the section along the road [km].")
    directions: list[Direction] = Field(
        default_factory=lambda: [Direction.A, Direction.B],
        min_length=1,
        description="Directions whose electrified lane is fitted (A, B or both).",
    )
    technology: Technology = Field(description="inductive, conductive_rail or catenary.")
    segment_length_m: PositiveFloat = Field(
        default=500.0, ge=10.0, description="Length of one segment (power unit) [m]."
    )
    coverage: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        description="Share of the segment length that transfers power (coil or rail cover) [-]."
    )
    vehicle_limit_kw: PositiveFloat = Field(
        description="Most power one vehicle can receive on this section, battery side [kW]."
    )
    rating_kw: PositiveFloat = Field(
        description="Rating of each segment's power unit, grid side [kW]."
    )
    efficiency: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        description="Grid-to-battery efficiency of the power unit and transfer [-]."
    )
    substation: str | None = Field(
        default=None,
        description="Id of the substation feeding the section; nearest substation if omitted.",
    )

    @property
    def end_km(self) -> float:
        """Road kilometre where the section ends [km]."""
        return self.start_km + self.length_km


class InterchangeSpec(SpecModel):
    """A point where vehicles enter or leave the corridor (interchange, junction or road end)."""

    name: str = Field(description="Label of the interchange.")
    position_km: NonNegativeFloat = Field(description="Road kilometre of the interchange [km].")
    weight: PositiveFloat = Field(
        description=(
            "Relative traffic generated and attracted here [-]; road ends carry through traffic."
        )
    )


class RoadSpec(SpecModel):
    """The corridor: its length, interchanges and electrified sections."""

    name: str = Field(description="Name of the road or corridor.")
    length_km: PositiveFloat = Field(description="Length of the modelled corridor [km].")
    interchanges: list[InterchangeSpec] = Field(
        min_length=2, description="Entry and exit points, at least the two road ends."
    )
    sections: list[SectionSpec] = Field(min_length=1, description="Electrified sections.")

    @property
    def electrified_km(self) -> float:
        """Electrified length summed over directions [km]."""
        return sum(s.length_km * len(s.directions) for s in self.sections)


class SubstationSpec(SpecModel):
    """A substation that connects road segments to the grid."""

    id: str = Field(description="Unique id of the substation.")
    position_km: NonNegativeFloat = Field(description="Road kilometre of the substation [km].")
    rating_kw: PositiveFloat = Field(
        description="Most power the substation may feed to the road, grid side [kW]."
    )


class ServiceAreaSpec(SpecModel):
    """A service area (rest area) beside the corridor."""

    name: str = Field(description="Label of the service area.")
    position_km: NonNegativeFloat = Field(description="Road kilometre of the service area [km].")
    substation: str | None = Field(
        default=None, description="Substation it is connected to; nearest if omitted."
    )
    facility_load_kw: NonNegativeFloat = Field(
        default=0.0, description="Average facility load (shops, lighting, ventilation) [kW]."
    )
    critical_load_kw: NonNegativeFloat = Field(
        default=0.0, description="Part of the load that must be kept alive in an outage [kW]."
    )
    v2g_chargers: Annotated[int, Field(ge=0)] = Field(
        default=0, description="Number of bidirectional chargers for parked vehicles [-]."
    )
    charger_kw: NonNegativeFloat = Field(default=0.0, description="Rating of each charger [kW].")


class EntrySocSpec(SpecModel):
    """Distribution of the state of charge of vehicles as they enter the corridor."""

    mean: Fraction = Field(description="Mean state of charge at entry [-].")
    std: NonNegativeFloat = Field(default=0.1, le=0.5, description="Standard deviation [-].")
    min: Fraction = Field(default=0.05, description="Lower truncation [-].")
    max: Fraction = Field(default=0.95, description="Upper truncation [-].")

    @model_validator(mode="after")
    def _ordered(self) -> EntrySocSpec:
        if not self.min <= self.mean <= self.max:
            raise ValueError("entry state of charge needs min <= mean <= max")
        return self


class SpeedSpec(SpecModel):
    """Distribution of the cruising speed of a vehicle class."""

    mean_kmh: Annotated[float, Field(gt=5.0, le=200.0)] = Field(description="Mean speed [km/h].")
    std_kmh: NonNegativeFloat = Field(
        default=5.0, le=50.0, description="Standard deviation [km/h]."
    )


class VehicleClassSpec(SpecModel):
    """One vehicle class (car, bus or truck) of the fleet using the corridor."""

    share: Fraction = Field(description="Share of the corridor's traffic in this class [-].")
    ev_share: Fraction = Field(description="Share of the class that is battery-electric [-].")
    receiver_share: Fraction = Field(
        description="Share of the class's EVs fitted with an ERS receiver or pantograph [-]."
    )
    battery_kwh: PositiveFloat = Field(description="Usable battery capacity [kWh].")
    consumption_kwh_per_km: PositiveFloat = Field(description="Driving consumption [kWh/km].")
    receiver_kw: PositiveFloat = Field(description="Rating of the vehicle's receiver [kW].")
    v2g_share: Fraction = Field(
        default=0.0, description="Share of the class's ERS vehicles that allow V2G [-]."
    )
    entry_soc: EntrySocSpec = Field(description="State of charge at entry.")
    exit_target_soc: Fraction = Field(
        description="State of charge the vehicle needs when it leaves the corridor [-]."
    )
    soc_max: Fraction = Field(
        default=1.0, description="State of charge at which charging stops ('full') [-]."
    )
    speed: SpeedSpec = Field(description="Cruising speed on the corridor.")
    diurnal: HourlyProfile | None = Field(
        default=None,
        description=(
            "Own 24-hour shape (hour 0..23, relative) replacing the traffic's, e.g. night trucks."
        ),
    )

    @model_validator(mode="after")
    def _target_reachable(self) -> VehicleClassSpec:
        if self.exit_target_soc > self.soc_max:
            raise ValueError("exit_target_soc cannot exceed soc_max")
        return self


class TrafficCountsSpec(SpecModel):
    """Measured traffic counts that drive the twin's arrivals (``traffic.source: counts``).

    The file is a CSV with the header ``time,direction,class,count`` and an optional
    ``interchange`` column: one row per counting interval, direction (A or B), vehicle class
    (car, bus, truck) and, with ``interchange``, entry interchange (a name of
    ``road.interchanges``). ``time`` is the interval's start (ISO 8601; without an offset,
    local time of the scenario); intervals are regular (5, 10, 15, 30 or 60 min); every
    interval of the run needs a row for every direction, class (and interchange) the file
    counts, and every class of ``vehicles`` must be counted. ``count`` is the number of
    vehicles that entered in the interval.
    """

    path: FilePath = Field(description="CSV of counts (relative: to the scenario file).")
    vehicles: Literal["all", "ers"] = Field(
        default="all",
        description=(
            "all: the counts are of all vehicles (detector data); each counted vehicle takes "
            "power from the road with its class's ev_share x receiver_share. ers: the counts "
            "are of ERS vehicles only, every one enters the twin."
        ),
    )


class TrafficSpec(SpecModel):
    """Traffic volume and its daily and weekly shape."""

    source: Literal["model", "counts"] = Field(
        default="model",
        description=(
            "model: arrivals drawn from the traffic model below (shaped by holidays, weather "
            "and day effects); counts: arrivals replay the measured counts of traffic.counts "
            "(the model below still gives the planners' prior expectation)."
        ),
    )
    counts: TrafficCountsSpec | None = Field(
        default=None, description="Measured counts, for source: counts."
    )

    daily_volume: Annotated[float, Field(gt=0.0, le=1_000_000.0)] = Field(
        description=(
            "Average vehicles per day, both directions together, all classes [veh/day]; the "
            "busiest motorways carry a few hundred thousand."
        )
    )
    direction_a_share: Fraction = Field(
        default=0.5, description="Share travelling in direction A [-]."
    )
    diurnal_weekday: HourlyProfile = Field(
        description="Relative traffic per hour 0..23 on working days [-] (normalised on load)."
    )
    diurnal_weekend: HourlyProfile = Field(
        description="Relative traffic per hour 0..23 on weekends and public holidays [-]."
    )
    weekly: Annotated[list[NonNegativeFloat], Field(min_length=7, max_length=7)] = Field(
        default_factory=lambda: [1.0] * 7,
        description="Relative daily volume Monday..Sunday [-] (normalised to mean 1 on load).",
    )
    holidays_country: str | None = Field(
        default=None,
        description="ISO country code whose public holidays take the weekend shape (e.g. JP, SE).",
    )

    @field_validator("diurnal_weekday", "diurnal_weekend")
    @classmethod
    def _nonzero_profile(cls, value: list[float]) -> list[float]:
        if sum(value) <= 0.0:
            raise ValueError("a diurnal profile needs at least one positive hour")
        return value

    @model_validator(mode="after")
    def _counts_given(self) -> TrafficSpec:
        if self.source == "counts" and self.counts is None:
            raise ValueError("traffic.counts: source 'counts' needs the counts file (path)")
        return self


class TariffSpec(SpecModel):
    """What the road operator pays for grid energy and what vehicles pay for it."""

    name: str = Field(description="Name of the tariff, e.g. the retailer's plan.")
    base_price_per_kwh: NonNegativeFloat = Field(
        description="Grid energy price outside any window [currency/kWh]."
    )
    windows: list[TariffWindow] = Field(
        default_factory=list, description="Time-of-use windows; later entries win on overlap."
    )
    user_price_per_kwh: NonNegativeFloat = Field(
        description="Price vehicles pay per kWh received into the battery [currency/kWh]."
    )
    export_price_per_kwh: NonNegativeFloat = Field(
        default=0.0, description="Price paid for energy exported to the grid [currency/kWh]."
    )
    carbon_price_per_kg: NonNegativeFloat = Field(
        default=0.0, description="Internal carbon price used in objectives [currency/kg CO2]."
    )
    demand_charge_per_kw: NonNegativeFloat = Field(
        default=0.0,
        description="Charge on the run's peak grid import, corridor total, 15-min mean, per "
        "day of the run [currency/kW/d]: a monthly basic charge divided by 30.4 (the run "
        "stands for a billing period of its own length).",
    )
    demand_target_kw: PositiveFloat | None = Field(
        default=None,
        description="Corridor import the plans take as already paid for [kW] (a demand "
        "target, e.g. the contract demand of a high-voltage supply): the planning strategies "
        "start from it as the peak owed and price a peak above it at a whole year of the "
        "demand charge (365 × `demand_charge_per_kw`), as a peak over a Japanese contract "
        "demand raises the basic charge for twelve months. The bill is unchanged: the run's "
        "peak at the daily rate. None: the plans price the run's peak at the run's days.",
    )


class Co2Spec(SpecModel):
    """Carbon intensity of grid energy."""

    intensity_kg_per_kwh: NonNegativeFloat = Field(
        le=2.0, description="Average CO2 intensity of grid imports [kg/kWh]."
    )
    source: str = Field(default="", description="Where the figure comes from.")
    mode: Literal["constant", "time_of_day", "mix"] = Field(
        default="constant",
        description=(
            "constant: intensity_kg_per_kwh; time_of_day: hourly_kg_per_kwh; mix: from the "
            "generation mix of prices.merit_order at each step."
        ),
    )
    hourly_kg_per_kwh: (
        Annotated[list[NonNegativeFloat], Field(min_length=24, max_length=24)] | None
    ) = Field(default=None, description="Intensity per local hour 0..23 for time_of_day [kg/kWh].")

    @model_validator(mode="after")
    def _mode_data(self) -> Co2Spec:
        if self.mode == "time_of_day" and self.hourly_kg_per_kwh is None:
            raise ValueError("co2.hourly_kg_per_kwh: mode 'time_of_day' needs 24 hourly values")
        return self


FIRST_YEAR, LAST_YEAR = 1970, 2200
"""Years a run may cover: the calendars (public holidays, load profiles) and a 64-bit clock in
nanoseconds cover them."""


def check_run_year(day: dt.date, what: str) -> None:
    """Refuse a day outside :data:`FIRST_YEAR` .. :data:`LAST_YEAR`.

    Raises
    ------
    ValueError
        Naming ``what`` and the years a run may cover.
    """
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(
            f"{what} {day.isoformat()}: a run covers the years {FIRST_YEAR} to {LAST_YEAR} "
            "(public holidays, load profiles and the clock cover these)"
        )


class SimulationSpec(SpecModel):
    """Time settings of a run."""

    start: dt.date = Field(
        description=f"Default first day of a run (local date, {FIRST_YEAR}..{LAST_YEAR})."
    )
    twin_step_s: Annotated[float, Field(ge=0.1, le=60.0)] = Field(
        default=1.0, description="Time step of the road-and-vehicle twin [s]."
    )
    planning_step_min: Literal[15] = Field(
        default=15, description="Planning step [min]; results are reported at this step."
    )
    max_vehicles: Annotated[int, Field(ge=100, le=5_000_000)] = Field(
        default=200_000, description="Capacity of the twin's vehicle table [-]."
    )
    warmup_h: Annotated[float, Field(ge=0.0, le=48.0)] | None = Field(
        default=None,
        description=(
            "Time the twin runs before a run's start so that it starts with the road as it "
            "is then; none of it is counted [h]. Default: the longest trip on the corridor "
            "(its length at the slowest class's lowest speed, 0.6 of its mean), in whole "
            "planning steps. 0: start with an empty road."
        ),
    )

    @field_validator("start")
    @classmethod
    def _in_range(cls, value: dt.date) -> dt.date:
        check_run_year(value, "start")
        return value

    @model_validator(mode="after")
    def _divides(self) -> SimulationSpec:
        steps = self.planning_step_min * 60.0 / self.twin_step_s
        if abs(steps - round(steps)) > 1e-9:
            raise ValueError("twin_step_s must divide the planning step evenly")
        return self

    @property
    def twin_steps_per_plan(self) -> int:
        """Twin steps in one planning step [-]."""
        return round(self.planning_step_min * 60.0 / self.twin_step_s)


class Scenario(SpecModel):
    """A complete ersgrid scenario."""

    name: str = Field(description="Short name, used for the results folder.")
    description: str = Field(default="", description="One line that says what the scenario is.")
    currency: Literal["JPY", "EUR", "USD", "SEK", "CNY"] = Field(
        description="Currency of all prices."
    )
    timezone: str = Field(description="IANA time zone of the corridor, e.g. Asia/Tokyo.")
    seed: Annotated[int, Field(ge=0)] = Field(default=0, description="Seed of every random draw.")
    simulation: SimulationSpec = Field(description="Time settings.")
    road: RoadSpec = Field(description="The corridor.")
    substations: list[SubstationSpec] = Field(min_length=1, description="Grid connections.")
    service_areas: list[ServiceAreaSpec] = Field(default_factory=list, description="Rest areas.")
    vehicles: dict[Literal["car", "bus", "truck"], VehicleClassSpec] = Field(
        min_length=1, description="Vehicle classes by name (car, bus, truck)."
    )
    traffic: TrafficSpec = Field(description="Traffic volume and profiles.")
    tariff: TariffSpec = Field(description="Energy prices.")
    co2: Co2Spec = Field(description="Carbon intensity of grid energy.")
    frequency: FrequencySpec = Field(
        default_factory=FrequencySpec, description="System-frequency model of the area."
    )
    reserve: ReserveSpec = Field(
        default_factory=ReserveSpec, description="Frequency-reserve product the road offers."
    )
    storage: StorageSpec | None = Field(
        default=None, description="Stationary batteries at substations; none if omitted."
    )
    demand_response: DemandResponseSpec = Field(
        default_factory=DemandResponseSpec, description="Demand-response events."
    )
    settlement: SettlementSpec = Field(
        default_factory=SettlementSpec, description="Settlement parties and rules (ledger)."
    )
    v2g: V2GSpec = Field(default_factory=V2GSpec, description="V2G wear and parked vehicles.")
    response: ResponseSpec = Field(
        default_factory=ResponseSpec, description="How users answer prices and V2G payments."
    )
    grid: GridSpec | None = Field(
        default=None, description="Distribution network and connections; no power flow if omitted."
    )
    weather: WeatherSpec | None = Field(
        default=None, description="Weather for renewables; needed when renewables are listed."
    )
    renewables: RenewablesSpec = Field(
        default_factory=RenewablesSpec, description="PV and wind behind the road's connections."
    )
    loads: LoadsSpec = Field(
        default_factory=LoadsSpec, description="Other loads behind the road's connections."
    )
    prices: PriceSourceSpec = Field(
        default_factory=PriceSourceSpec, description="Where the grid energy price comes from."
    )
    economics: EconomicsSpec = Field(
        default_factory=EconomicsSpec,
        description="Capital cost, O&M, lifetimes, discount rate and year scaling of the road.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like Asia/Tokyo"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        length = self.road.length_km
        ids = [s.id for s in self.substations]
        if len(set(ids)) != len(ids):
            raise ValueError(f"substations: ids must be unique, got {ids}")
        for i, sub in enumerate(self.substations):
            if sub.position_km > length:
                raise ValueError(
                    f"substations.{i}.position_km: {sub.position_km} km lies beyond the road "
                    f"(length_km = {length})"
                )
        for i, ic in enumerate(self.road.interchanges):
            if ic.position_km > length:
                raise ValueError(
                    f"road.interchanges.{i}.position_km: {ic.position_km} km lies beyond the road "
                    f"(length_km = {length})"
                )
        positions = sorted(ic.position_km for ic in self.road.interchanges)
        if positions[-1] - positions[0] <= 0.0:
            raise ValueError("road.interchanges: need at least two distinct positions")
        for i, sec in enumerate(self.road.sections):
            if sec.end_km > length + 1e-9:
                raise ValueError(
                    f"road.sections.{i}: ends at km {sec.end_km:g}, beyond the road "
                    f"(length_km = {length})"
                )
            if sec.substation is not None and sec.substation not in ids:
                raise ValueError(
                    f"road.sections.{i}.substation: unknown substation {sec.substation!r}; "
                    f"known: {ids}"
                )
            if len(set(sec.directions)) != len(sec.directions):
                raise ValueError(f"road.sections.{i}.directions: a direction is listed twice")
        for i, a in enumerate(self.road.sections):
            for j in range(i + 1, len(self.road.sections)):
                b = self.road.sections[j]
                shared = set(a.directions) & set(b.directions)
                if shared and a.start_km < b.end_km - 1e-9 and b.start_km < a.end_km - 1e-9:
                    raise ValueError(
                        f"road.sections.{i} ({a.name}) and road.sections.{j} ({b.name}) overlap "
                        f"in direction {sorted(d.value for d in shared)}: sections of one "
                        "direction must not overlap"
                    )
        for i, sa in enumerate(self.service_areas):
            if sa.position_km > length:
                raise ValueError(f"service_areas.{i}.position_km: beyond the road end")
            if sa.substation is not None and sa.substation not in ids:
                raise ValueError(
                    f"service_areas.{i}.substation: unknown substation {sa.substation!r}"
                )
        if self.storage is not None and self.storage.substations is not None:
            for sid in self.storage.substations:
                if sid not in ids:
                    raise ValueError(
                        f"storage.substations: unknown substation {sid!r}; known: {ids}"
                    )
        _check_energy_sections(self, ids)
        share = sum(v.share for v in self.vehicles.values())
        if share <= 0.0 or share > 1.0 + 1e-6:
            raise ValueError(
                f"vehicles: class shares must sum to more than 0 and at most 1, got {share:g}"
            )
        return self


def _check_energy_sections(sc: Scenario, ids: list[str]) -> None:
    """Cross-checks of the grid and energy sections against the substations."""
    named: list[tuple[str, str]] = []
    if sc.grid is not None:
        named += [
            (f"grid.connections.{i}", c.substation) for i, c in enumerate(sc.grid.connections)
        ]
    named += [(f"renewables.pv.{i}", a.substation) for i, a in enumerate(sc.renewables.pv)]
    named += [(f"renewables.wind.{i}", w.substation) for i, w in enumerate(sc.renewables.wind)]
    named += [
        (f"renewables.measured.{i}", m.substation) for i, m in enumerate(sc.renewables.measured)
    ]
    named += [(f"loads.feeder.{i}", f.substation) for i, f in enumerate(sc.loads.feeder)]
    for where, sub in named:
        if sub not in ids:
            raise ValueError(f"{where}.substation: unknown substation {sub!r}; known: {ids}")
    if sc.grid is not None:
        missing = sorted(set(ids) - {c.substation for c in sc.grid.connections})
        if missing:
            raise ValueError(f"grid.connections: no bus given for substations {missing}")
    if (sc.renewables.pv or sc.renewables.wind) and sc.weather is None:
        raise ValueError("weather: renewables are listed, so the scenario must name its weather")
    needs_model = sc.co2.mode == "mix" or sc.prices.source == "merit_order"
    if needs_model and sc.prices.merit_order is None:
        raise ValueError("prices.merit_order: co2 mode 'mix' needs the merit-order model")
    if sc.prices.merit_order is not None and sc.weather is None:
        mo = sc.prices.merit_order
        if mo.pv_capacity_mw > 0 or mo.wind_capacity_mw > 0:
            raise ValueError("weather: the merit-order model's PV and wind need the weather")
