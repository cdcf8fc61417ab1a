"""The energy context around the road at each substation: other loads, renewables, limits.

Everything a strategy and the KPIs need besides the road itself, as arrays of shape
(planning steps, substations). This is the one place where the grid and energy data enter
the run loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from ersgrid.scenario.layout import Layout
from ersgrid.scenario.schema import Scenario

__all__ = ["EnergyContext", "build_energy_context", "connection_balance"]

FloatArray = npt.NDArray[np.float64]


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


def _substation_of_service_areas(scenario: Scenario, layout: Layout) -> list[int]:
    out = []
    for sa in scenario.service_areas:
        if sa.substation is not None:
            out.append(layout.sub_ids.index(sa.substation))
        else:
            out.append(int(np.argmin(np.abs(layout.sub_position_km - sa.position_km))))
    return out


def build_energy_context(
    scenario: Scenario, layout: Layout, index: pd.DatetimeIndex
) -> EnergyContext:
    """Other loads, renewables and connection limits for the steps of ``index``.

    Service-area facility loads are constant at their average; there is no local generation
    and no connection limit beyond the substations' road ratings until the scenario models
    the grid.
    """
    shape = (len(index), layout.n_substations)
    other = np.zeros(shape)
    for sa, sub in zip(
        scenario.service_areas, _substation_of_service_areas(scenario, layout), strict=True
    ):
        other[:, sub] += sa.facility_load_kw
    return EnergyContext(
        other_load_kw=other,
        renewable_kw=np.zeros(shape),
        import_limit_kw=np.full(shape, np.inf),
        export_limit_kw=np.zeros(shape),
    )


def connection_balance(
    road_kw: FloatArray, energy: EnergyContext
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Import, export and curtailment at each connection for a given road power.

    Local renewables serve the road and other loads first; the surplus is exported up to the
    export limit and the rest curtailed.

    Parameters
    ----------
    road_kw : ndarray [kW], shape (steps, substations)

    Returns
    -------
    import_kw, export_kw, curtailed_kw : ndarray [kW]
    """
    net = road_kw + energy.other_load_kw - energy.renewable_kw
    import_kw = np.maximum(net, 0.0)
    surplus = np.maximum(-net, 0.0)
    export_kw = np.minimum(surplus, energy.export_limit_kw)
    return import_kw, export_kw, surplus - export_kw
