"""The strategy interface: what a controller sees each planning step and what it decides.

A researcher's controller plugs in by subclassing :class:`Strategy` and naming it on the
command line as ``--strategy package.module:ClassName``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario
from ersgrid.twin.road import BlockReport
from ersgrid.world.arrivals import Arrivals
from ersgrid.world.energy import EnergyContext
from ersgrid.world.world import World

if TYPE_CHECKING:
    from ersgrid.grid.powerflow import GridCase

__all__ = ["Dispatch", "Observation", "RunContext", "Strategy"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RunContext:
    """What a strategy may know before a run starts: the run's world and the limits in force.

    Attributes
    ----------
    world : World
        The run's outside world (prices, CO2, weather, traffic expectation, loads, limits).
        Its realised traffic (``world.traffic_intensity``, ``world.arrivals``) is hindsight:
        only the ``oracle`` may read it; any other strategy that uses it is cheating.
    energy : EnergyContext
        Other loads, local renewables and connection limits per substation and step: the
        world's, with the import caps of demand-response events known before the run.
    layout : Layout
        The corridor the twin runs (the world's, or the live service's own copy).
    grid_case : GridCase or None
        The scenario's network compiled for the run (the one the grid check after the run
        solves), for a strategy that plans within its limits; None without a grid section,
        or where the caller compiled none (such a strategy then compiles its own).
    """

    world: World
    energy: EnergyContext
    layout: Layout
    grid_case: GridCase | None = None

    @property
    def scenario(self) -> Scenario:
        """The resolved scenario."""
        return self.world.scenario

    @property
    def index(self) -> pd.DatetimeIndex:
        """Planning steps of the run (tz-aware, 15 min)."""
        return self.world.index

    @property
    def step_h(self) -> float:
        """Length of a planning step [h]."""
        return self.world.step_h

    @property
    def price_per_kwh(self) -> FloatArray:
        """Grid energy price at each planning step [currency/kWh] (known in advance)."""
        return self.world.price_per_kwh

    @property
    def co2_kg_per_kwh(self) -> FloatArray:
        """CO2 intensity of grid imports at each planning step [kg/kWh]."""
        return self.world.co2_kg_per_kwh

    @property
    def expected_volume(self) -> pd.DataFrame:
        """Expected traffic by class and direction [veh/step]: the traffic model's mean after
        the users' price response, not the realised draw."""
        return self.world.expected_volume

    @property
    def arrivals(self) -> Arrivals:
        """The run's realised arrivals: hindsight, for the ``oracle`` only."""
        return self.world.arrivals


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

    @property
    def network_limits(self) -> tuple[str, ...]:
        """The network limits the strategy's plans act on (e.g. ``voltage Bus 5``,
        ``loading Line 1-2``); none by default: only the grid check after the run sees the
        network."""
        return ()

    @property
    def network_slack_steps(self) -> int:
        """(step, element) pairs the plans in force left over a network limit because the
        strategy's own power could not avoid it [-]; 0 by default."""
        return 0

    @property
    def notes(self) -> tuple[str, ...]:
        """What the user should know of the run just made (e.g. a forecaster that learnt from
        less history than it asks for); shown with the results. None by default."""
        return ()

    @abstractmethod
    def decide(self, observation: Observation) -> Dispatch:
        """Return the power limits for the planning step that starts now."""

    def end_state(self, observation: Observation) -> dict[str, FloatArray]:
        """What the strategy carries over to a run that continues this one, by name.

        Called once after the last planning step with what the strategy would see at the
        next one (``observation.step`` is the number of steps run). A strategy with memory
        of the run (metered peaks, the last step's load) returns it here and takes it back
        in :meth:`resume`, so chained runs decide as one long run. Nothing by default.
        """
        return {}

    def resume(self, state: Mapping[str, FloatArray]) -> None:
        """Take over :meth:`end_state` of the run this one continues (after :meth:`reset`,
        before the first step). Ignored by default."""
        del state  # a strategy without memory starts afresh
