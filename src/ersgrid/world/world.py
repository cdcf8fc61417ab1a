"""The world of a run: every exogenous series, built once and read by every engine.

:func:`build_world` turns a scenario and the run's steps into one frozen :class:`World`: the
calendar, one weather, the PV and wind of every plant and connection, the other loads, the
connection limits, the price and CO2 series and the user price, the traffic (the planners'
expected volume, the shaped intensity the twin draws from, the counts a history holds) and the
arrivals of the twin. The twin, the grid check, the KPIs, the ledger's settlement, the
strategies and the forecasting history read the same world, so the rain that thins the traffic
is the cloud that dims the panels, and the price the KPIs pay is the price the ledger bills.

Each part is computed on first use and then fixed: a history window that never asks for the
arrivals does not draw them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.counts import TrafficCounts, read_counts
from ersgrid.data.timeseries import align_power, read_power_csv
from ersgrid.errors import DataError, ScenarioError
from ersgrid.scenario.energy import WeatherSpec
from ersgrid.scenario.layout import Layout, build_layout
from ersgrid.scenario.schema import VEHICLE_CLASSES, Scenario
from ersgrid.world.arrivals import Arrivals, draw_arrivals, replay_counts, take_window
from ersgrid.world.calendar import Calendar, build_calendar
from ersgrid.world.energy import EnergyContext, build_energy, other_loads_kw
from ersgrid.world.prices import (
    MeritOrder,
    co2_intensity,
    file_prices,
    merit_order,
    tariff_prices,
)
from ersgrid.world.renewables import (
    PlantOutputs,
    plant_outputs,
    reference_pv_kw_per_kwp,
    reference_wind_kw_per_kw,
)
from ersgrid.world.response import shift_trips, user_price_series
from ersgrid.world.traffic import (
    check_counts,
    counts_per_step,
    expected_volume,
    traffic_columns,
    traffic_intensity,
)
from ersgrid.world.weather import Weather, scenario_weather, weather_spec

__all__ = ["World", "build_world"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class World:
    """The outside world of one run (or of a history window), on its planning steps.

    Build it with :func:`build_world`. Every series is indexed by the steps of ``index``;
    arrays per connection have shape (steps, substations) in the layout's substation order.

    Attributes
    ----------
    scenario : Scenario
    layout : Layout
    index : DatetimeIndex
        Planning steps, tz-aware in the scenario's time zone.
    history : bool
        A history window: a user's file that covers less than the window gives NaN there
        instead of an error.
    """

    scenario: Scenario
    layout: Layout
    index: pd.DatetimeIndex
    history: bool = False

    @property
    def step_h(self) -> float:
        """Length of a planning step [h]."""
        return self.scenario.simulation.planning_step_min / 60.0

    # ---- calendar and weather ---------------------------------------------------------
    @functools.cached_property
    def calendar(self) -> Calendar:
        """Weekdays, public holidays, off days and holiday periods of the steps."""
        return build_calendar(self.scenario.traffic.holidays_country, self.index)

    @functools.cached_property
    def weather_spec(self) -> WeatherSpec:
        """The weather section in force (the climate's clear sky when the scenario has none)."""
        return weather_spec(self.scenario)

    @functools.cached_property
    def weather(self) -> Weather:
        """The one weather of the world (PV, wind, demand and traffic all read it)."""
        return scenario_weather(self.scenario, self.index)

    # ---- renewables, loads, limits ----------------------------------------------------
    @functools.cached_property
    def plants(self) -> PlantOutputs:
        """AC output of every PV array and wind farm, modelled on the weather or measured."""
        ren = self.scenario.renewables
        measured = [(m.name, m.kind, m.substation, self._measured_kw(m.path)) for m in ren.measured]
        if not (ren.pv or ren.wind or measured):
            return plant_outputs([], [], [], self.weather, self.weather_spec)
        return plant_outputs(ren.pv, ren.wind, measured, self.weather, self.weather_spec)

    def _measured_kw(self, path: str) -> FloatArray:
        series = read_power_csv(Path(path), self.scenario.timezone)
        return align_power(series, self.index, path, require=not self.history)

    @functools.cached_property
    def pv_kw_per_kwp(self) -> FloatArray:
        """Yield of a reference PV array (20° tilt, south) on the weather [kW/kWp]: scales the
        merit-order model's system PV and the network's own PV units."""
        return reference_pv_kw_per_kwp(self.weather, self.weather_spec)

    @functools.cached_property
    def wind_kw_per_kw(self) -> FloatArray:
        """Yield of a reference turbine on the weather [kW/kW]: scales system and network wind."""
        return reference_wind_kw_per_kw(self.weather)

    @functools.cached_property
    def energy(self) -> EnergyContext:
        """Other loads, renewables and connection limits at each connection."""
        other = other_loads_kw(self.scenario, self.layout, self.index)
        renewable = np.nan_to_num(self.plants.per_connection(self.layout.sub_ids))
        return build_energy(self.scenario, self.layout, other, renewable)

    # ---- prices and CO2 ---------------------------------------------------------------
    @functools.cached_property
    def merit(self) -> MeritOrder | None:
        """The merit-order model on the steps, when the scenario has one in use."""
        spec = self.scenario.prices
        uses = spec.source == "merit_order" or self.scenario.co2.mode == "mix"
        if spec.merit_order is None or not uses:
            return None
        model = spec.merit_order
        pv = self.pv_kw_per_kwp if model.pv_capacity_mw > 0 else None
        wind = self.wind_kw_per_kw if model.wind_capacity_mw > 0 else None
        return merit_order(model, self.index, pv, wind)

    @functools.cached_property
    def price_per_kwh(self) -> FloatArray:
        """Grid energy price at each step [currency/kWh], from ``prices.source``."""
        sc = self.scenario
        spec = sc.prices
        if spec.source == "tariff":
            return tariff_prices(sc.tariff, self.index)
        if spec.source in ("csv", "jepx"):
            return file_prices(spec, sc.timezone, self.index, require=not self.history)
        assert self.merit is not None  # validated by the schema
        return self.merit.price_per_kwh + spec.adder_per_kwh

    @functools.cached_property
    def network_fee_per_kwh(self) -> FloatArray:
        """The network operator's part of the grid price at each step [currency/kWh].

        Raises
        ------
        DataError
            If it exceeds the grid price at some step (the fee is part of the price).
        """
        fee = np.full(len(self.index), self.scenario.prices.network_fee_per_kwh)
        price = self.price_per_kwh
        over = np.flatnonzero(np.isfinite(price) & (fee > price + 1e-12))
        if len(over):
            k = int(over[0])
            raise DataError(
                f"prices.network_fee_per_kwh = {fee[k]:g} exceeds the grid price "
                f"{price[k]:g} at {self.index[k]}: the fee is the network's part of the price "
                "(raise prices.adder_per_kwh or lower the fee)"
            )
        return fee

    @functools.cached_property
    def co2_kg_per_kwh(self) -> FloatArray:
        """CO2 intensity of grid imports at each step [kg/kWh], from ``co2.mode``."""
        return co2_intensity(self.scenario.co2, self.index, self.merit)

    @functools.cached_property
    def user_price_per_kwh(self) -> FloatArray:
        """Price vehicles pay per kWh into their battery at each step [currency/kWh]."""
        return user_price_series(self.scenario, self.index)

    # ---- traffic ----------------------------------------------------------------------
    @functools.cached_property
    def counts(self) -> TrafficCounts | None:
        """The user's measured counts (``traffic.source: counts``), checked for a run."""
        sc = self.scenario
        if sc.traffic.source != "counts":
            return None
        assert sc.traffic.counts is not None  # validated by the schema
        counts = read_counts(
            Path(sc.traffic.counts.path),
            sc.timezone,
            tuple(VEHICLE_CLASSES),
            self.layout.ic_names,
        )
        if not self.history:
            check_counts(sc, counts, self.index, self.layout.ic_names)
        return counts

    @functools.cached_property
    def model_volume(self) -> pd.DataFrame:
        """The traffic model's mean [veh/step], all vehicles, by ``<class>_<direction>``,
        before the users' price response."""
        return expected_volume(self.scenario, self.index, self.calendar)

    @functools.cached_property
    def _days(self) -> World:
        """The world of the whole local days that the steps touch (itself when they are
        whole days): traffic and arrivals are drawn day by day, the same in every window."""
        index = self.index
        step = pd.Timedelta(minutes=self.scenario.simulation.planning_step_min)
        first = index[0].normalize()
        last = index[-1].normalize()
        full = pd.date_range(
            first, last + pd.Timedelta(days=1), freq=step, inclusive="left"
        ).tz_convert(self.scenario.timezone)
        if len(full) == len(index) and full[0] == index[0]:
            return self
        return World(self.scenario, self.layout, full, self.history)

    def _on_steps(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A frame of the whole-day world on this world's steps."""
        return frame if self._days is self else frame.loc[self.index]

    @functools.cached_property
    def _shifted(self) -> tuple[pd.DataFrame, pd.DataFrame, float]:
        """Expected volume and intensity after the users' price response, trips moved."""
        days = self._days
        if days is not self:
            volume, intensity, moved = days._shifted
            return self._on_steps(volume), self._on_steps(intensity), moved
        sc, index = self.scenario, self.index
        volume, _ = shift_trips(self.model_volume, sc, index)
        if self.counts is not None:  # measured trips already answered the prices
            return volume, self._counted, 0.0
        shaped = traffic_intensity(sc, index, self.calendar, self.weather, self.model_volume)
        intensity, moved = shift_trips(shaped, sc, index)
        return volume, intensity, moved

    @functools.cached_property
    def _counted(self) -> pd.DataFrame:
        assert self.counts is not None
        ers_only = self.scenario.traffic.counts is not None and (
            self.scenario.traffic.counts.vehicles == "ers"
        )
        return counts_per_step(self.scenario, self.counts, self.index, ers_only)

    @property
    def expected_volume(self) -> pd.DataFrame:
        """The planners' naive expectation of the traffic [veh/step], all vehicles, by
        ``<class>_<direction>``: the traffic model's mean after the users' price response."""
        return self._shifted[0]

    @property
    def traffic_intensity(self) -> pd.DataFrame:
        """Mean vehicles entering per step [veh/step], all vehicles: what the twin draws from
        (the shaped traffic model after the price response), or the measured counts."""
        return self._shifted[1]

    @property
    def trips_shifted(self) -> float:
        """Vehicles the users' price response moved to other steps [veh]."""
        return self._shifted[2]

    @functools.cached_property
    def traffic_counts(self) -> pd.DataFrame:
        """Vehicles counted per step by ``<class>_<direction>`` [veh/step], as a history holds
        them: Poisson counts about the intensity, or the measured counts (NaN where the file
        has none)."""
        if self.counts is not None:
            return self._counted
        days = self._days
        if days is not self:
            return self._on_steps(days.traffic_counts)
        lam = self.traffic_intensity
        values = np.zeros(lam.shape)
        day_of = pd.Index(self.index.normalize())
        for day in day_of.unique():  # each day from its own seed, as the arrivals
            rows = day_of == day
            rng = np.random.default_rng([self.scenario.seed, 5, day.toordinal()])
            values[rows] = rng.poisson(lam.to_numpy()[rows])
        return pd.DataFrame(values, index=self.index, columns=lam.columns)

    @functools.cached_property
    def arrivals(self) -> Arrivals:
        """The ERS vehicles that enter the twin (drawn from the intensity, or replayed)."""
        sc = self.scenario
        if self.counts is not None:
            mode = sc.traffic.counts.vehicles if sc.traffic.counts is not None else "all"
            return replay_counts(sc, self.layout, self.index, self.counts, mode)
        days = self._days
        drawn = draw_arrivals(sc, self.layout, days.index, days.traffic_intensity)
        if days is self:
            return drawn
        offset = (self.index[0] - days.index[0]).total_seconds()
        step_s = self.step_h * 3600.0
        return take_window(drawn, offset, offset + len(self.index) * step_s)

    @property
    def traffic_columns(self) -> list[str]:
        """The ``<class>_<direction>`` columns of the traffic series."""
        return traffic_columns(self.scenario)


def build_world(
    scenario: Scenario,
    index: pd.DatetimeIndex,
    *,
    layout: Layout | None = None,
    history: bool = False,
) -> World:
    """The world of ``scenario`` on the planning steps ``index``.

    Parameters
    ----------
    scenario : Scenario
        Resolved (seed and overrides applied).
    index : DatetimeIndex
        Planning steps, tz-aware, on the scenario's grid from local midnight.
    layout : Layout, optional
        The corridor (built from the scenario by default).
    history : bool
        A history window (see :class:`World`).

    Raises
    ------
    ScenarioError
        If ``index`` is empty or not in the scenario's time zone.
    """
    if len(index) == 0:
        raise ScenarioError("a world needs at least one planning step")
    if index.tz is None or str(index.tz) != scenario.timezone:
        index = index.tz_convert(scenario.timezone) if index.tz is not None else index
        if index.tz is None:
            raise ScenarioError("the world's steps must be tz-aware (the scenario's time zone)")
    return World(
        scenario=scenario,
        layout=build_layout(scenario) if layout is None else layout,
        index=index,
        history=history,
    )
