"""The energy around the road at each connection: other loads, renewables, limits.

Everything a strategy and the KPIs need besides the road itself, as arrays of shape
(planning steps, substations), and the one balance of a connection: what it imports, exports
and curtails for a given road power.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.data.profiles import bdew_power_kw
from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario

__all__ = [
    "EnergyContext",
    "RenewableSplit",
    "build_energy",
    "connection_balance",
    "other_loads_kw",
    "renewable_split",
]

FloatArray = npt.NDArray[np.float64]

HOURS_PER_YEAR = 8760.0
"""Hours of a (non-leap) year, to turn a mean load into annual energy [h]."""


@dataclass(frozen=True)
class EnergyContext:
    """Time series at each substation's grid connection, shape (steps, substations).

    Attributes
    ----------
    other_load_kw : ndarray [kW]
        Load behind the connection other than the road (service areas, feeder loads).
    renewable_kw : ndarray [kW]
        Local renewable generation available (before curtailment).
    import_limit_kw : ndarray [kW]
        Most power the connection may import (transformer rating, demand-response caps).
    export_limit_kw : ndarray [kW]
        Most power the connection may export.
    """

    other_load_kw: FloatArray
    renewable_kw: FloatArray
    import_limit_kw: FloatArray
    export_limit_kw: FloatArray


def other_loads_kw(scenario: Scenario, layout: Layout, index: pd.DatetimeIndex) -> FloatArray:
    """Loads behind each connection other than the road [kW], shape (steps, substations).

    Service-area facility loads follow ``loads.service_area_profile`` (BDEW, default g3),
    scaled so their annual mean is ``facility_load_kw``; feeder loads follow their BDEW
    profile scaled to their annual energy.
    """
    other = np.zeros((len(index), layout.n_substations))
    profile = scenario.loads.service_area_profile
    for sa, sub in zip(scenario.service_areas, layout.sa_substation, strict=True):
        if profile == "constant":
            other[:, sub] += sa.facility_load_kw
        else:
            other[:, sub] += bdew_power_kw(profile, sa.facility_load_kw * HOURS_PER_YEAR, index)
    for load in scenario.loads.feeder:
        col = layout.sub_ids.index(load.substation)
        other[:, col] += bdew_power_kw(load.profile, load.annual_kwh, index)
    return other


def build_energy(
    scenario: Scenario, layout: Layout, other_load_kw: FloatArray, renewable_kw: FloatArray
) -> EnergyContext:
    """The energy context from the other loads and renewables at each connection.

    Limits: ``grid.connections`` import and export limits; without a grid section imports
    are unlimited (beyond the road ratings) and export is not allowed.

    Parameters
    ----------
    other_load_kw, renewable_kw : ndarray [kW], shape (steps, substations)
    """
    shape = other_load_kw.shape
    import_limit = np.full(shape, np.inf)
    export_limit = np.zeros(shape)
    if scenario.grid is not None:
        for conn in scenario.grid.connections:
            col = layout.sub_ids.index(conn.substation)
            if conn.import_limit_kw is not None:
                import_limit[:, col] = conn.import_limit_kw
            export_limit[:, col] = conn.export_limit_kw
    return EnergyContext(
        other_load_kw=other_load_kw,
        renewable_kw=renewable_kw,
        import_limit_kw=import_limit,
        export_limit_kw=export_limit,
    )


def connection_balance(
    road_kw: FloatArray, energy: EnergyContext, step: int | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Import, export and curtailment at each connection for a given road power.

    Local renewables serve the road and other loads first; the surplus is exported up to the
    export limit and the rest curtailed.

    Parameters
    ----------
    road_kw : ndarray [kW], shape (steps, substations), or (substations,) with ``step``
    energy : EnergyContext
    step : int, optional
        Balance only this planning step (``road_kw`` is then its row).

    Returns
    -------
    import_kw, export_kw, curtailed_kw : ndarray [kW], shaped like ``road_kw``
    """
    rows = slice(None) if step is None else step
    net = road_kw + energy.other_load_kw[rows] - energy.renewable_kw[rows]
    import_kw = np.maximum(net, 0.0)
    surplus = np.maximum(-net, 0.0)
    export_kw = np.minimum(surplus, energy.export_limit_kw[rows])
    return import_kw, export_kw, surplus - export_kw


@dataclass(frozen=True)
class RenewableSplit:
    """Where local renewable power goes at each connection, shape (steps, substations) [kW].

    Renewables serve the road first, then the other loads behind the connection; the
    surplus is exported up to the export limit and the rest curtailed, so
    ``to_road + to_other + exported + curtailed == renewable`` at every step.
    """

    to_road_kw: FloatArray
    to_other_kw: FloatArray
    exported_kw: FloatArray
    curtailed_kw: FloatArray


def renewable_split(road_kw: FloatArray, energy: EnergyContext) -> RenewableSplit:
    """Split local renewables between road, other loads, export and curtailment.

    Parameters
    ----------
    road_kw : ndarray [kW], shape (steps, substations)
        Road power at each connection (draw positive).
    """
    ren = energy.renewable_kw
    to_road = np.minimum(ren, np.maximum(road_kw, 0.0))
    to_other = np.minimum(ren - to_road, np.maximum(energy.other_load_kw, 0.0))
    surplus = ren - to_road - to_other
    exported = np.minimum(surplus, energy.export_limit_kw)
    return RenewableSplit(to_road, to_other, exported, surplus - exported)
