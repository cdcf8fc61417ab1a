"""The strategy interface: what a controller sees each planning step and what it decides.

A researcher's controller plugs in by subclassing :class:`Strategy` and naming it on the
command line as ``--strategy package.module:ClassName``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.grid.context import EnergyContext
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario
from ersgrid.twin.road import BlockReport
from ersgrid.twin.traffic import Arrivals

__all__ = ["Dispatch", "Observation", "RunContext", "Strategy"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RunContext:
    """What a strategy may know before a run starts.

    Attributes
    ----------
    scenario : Scenario
    layout : Layout
    index : DatetimeIndex
        Planning steps of the run (tz-aware, 15 min).
    price_per_kwh : ndarray [currency/kWh]
        Grid energy price at each planning step (the tariff is known in advance).
    co2_kg_per_kwh : ndarray [kg/kWh]
    expected_volume : DataFrame [veh/step]
        Expected traffic by class and direction (the traffic model's mean, not the draw).
    step_h : float [h]
        Length of a planning step.
    energy : EnergyContext
        Other loads, local renewables and connection limits per substation and step.
    arrivals : Arrivals or None
        The run's realised arrivals (set by the runner). Only the ``oracle`` may read it: it
        is the hindsight bound; any other strategy that uses it is cheating.
    """

    scenario: Scenario
    layout: Layout
    index: pd.DatetimeIndex
    price_per_kwh: FloatArray
    co2_kg_per_kwh: FloatArray
    expected_volume: pd.DataFrame
    step_h: float
    energy: EnergyContext
    arrivals: Arrivals | None = None


@dataclass(frozen=True)
class Observation:
    """What a strategy sees at the start of a planning step.

    Attributes
    ----------
    step : int
        Index of the planning step about to run.
    time : Timestamp
        Its local start time.
    vehicles : DataFrame
        The vehicles on the road now (see :meth:`RoadTwin.state`).
    last : BlockReport or None
        Measurements of the previous planning step.
    storage_kwh : ndarray [kWh] or None
        Energy in each substation's stationary battery now (None without storage).
    import_kw : ndarray [kW] or None
        Metered grid import of each connection over the previous planning step (road,
        batteries and other loads less local renewables); None at the first step.
    """

    step: int
    time: pd.Timestamp
    vehicles: pd.DataFrame
    last: BlockReport | None
    storage_kwh: FloatArray | None = None
    import_kw: FloatArray | None = None


@dataclass(frozen=True)
class Dispatch:
    """Power limits for the next planning step, grid side.

    Attributes
    ----------
    seg_limit_kw : ndarray [kW]
        Per segment; the twin never lets a segment exceed ``min(limit, rating)``.
    sub_limit_kw : ndarray [kW]
        Per substation, shared among its segments.
    storage_kw : ndarray [kW] or None
        Set-point of the stationary battery at each substation, AC side, positive charging;
        the runner clips it to the battery's limits and the connection's (see
        :func:`ersgrid.optimize.storage.realise_storage`). None: batteries idle.
    seg_v2g_kw : ndarray [kW], optional
        Per segment, power to return from V2G vehicles (positive, grid side); V2G vehicles
        above their exit need discharge while the others on the segment charge.
    sub_v2g_kw : ndarray [kW], optional
        Per substation, most V2G power taken back in total (unlimited if omitted).
    import_target_kw : ndarray [kW], optional
        Per substation, the grid import the EMS keeps the connection under in real time with
        its battery: where the metered load would take the import above it, the battery
        discharges more than its set-point (or charges less), within its limits; the road is
        not held back for it. None: the set-point alone.
    sub_energy_kwh : ndarray [kWh], optional
        Per substation, grid-side energy the road may take over the planning step (``inf``:
        none), spent as vehicles ask within the power limits: a plan that holds the road at
        a 15-min average gives this rather than an instantaneous ``sub_limit_kw``.
    """

    seg_limit_kw: FloatArray
    sub_limit_kw: FloatArray
    storage_kw: FloatArray | None = None
    seg_v2g_kw: FloatArray | None = None
    sub_v2g_kw: FloatArray | None = None
    import_target_kw: FloatArray | None = None
    sub_energy_kwh: FloatArray | None = None


class Strategy(ABC):
    """A controller of the road's charging power. Subclass and implement :meth:`decide`."""

    name: ClassVar[str] = "strategy"
    fallbacks: int = 0
    """Planning steps at which the strategy fell back to its safe schedule (``kpis.json``)."""

    def reset(self, context: RunContext) -> None:
        """Prepare for a run; called once before the first step."""
        self.context = context

    @abstractmethod
    def decide(self, observation: Observation) -> Dispatch:
        """Return the power limits for the planning step that starts now."""
